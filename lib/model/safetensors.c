/* safetensors.c: see safetensors.h. */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/util.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

static const struct {
  const char *name;
  size_t size;
} dtypes[] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},
    [ST_I16] = {"I16", 2},   [ST_U16] = {"U16", 2},   [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4},   [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},   [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},   [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define NDTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *st_dtype_name(st_dtype d) { return (int)d >= 0 && (int)d < NDTYPES ? dtypes[d].name : "?"; }
size_t st_dtype_size(st_dtype d) { return (int)d >= 0 && (int)d < NDTYPES ? dtypes[d].size : 0; }

/* ------------------------------------------------------------------ half */

float st_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13); /* Inf / NaN (payload kept) */
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    /* subnormal half: mant * 2^-24, exact in float */
    float f = (float)mant * 0x1p-24f;
    memcpy(&bits, &f, 4);
    bits |= sign;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

float st_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t st_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
  x += 0x7fffu + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

uint16_t st_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00;
  if (ax >= 0x477ff000u) return sign | 0x7c00; /* rounds to infinity */
  if (ax < 0x38800000u) {                       /* subnormal or zero in half */
    float a;
    memcpy(&a, &ax, 4);
    float r = a * 0x1p24f; /* in units of 2^-24 */
    uint32_t m = (uint32_t)nearbyintf(r);
    return sign | (uint16_t)m;
  }
  uint32_t mant = ax & 0x7fffff, exp = (ax >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return sign | (uint16_t)h;
}

/* ------------------------------------------------------------------ read */

static int parse_dtype(const char *s) {
  for (int i = 0; i < NDTYPES; i++)
    if (strcmp(s, dtypes[i].name) == 0) return i;
  return -1;
}

static int cmp_span(const void *a, const void *b) {
  const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

void st_close(st_file *f) {
  if (!f) return;
  if (f->map && f->size) munmap((void *)f->map, f->size);
  for (int i = 0; i < f->n; i++) free(f->t[i].name);
  free(f->t);
  for (int i = 0; i < f->nmeta; i++) {
    free(f->meta_key[i]);
    free(f->meta_val[i]);
  }
  free(f->meta_key);
  free(f->meta_val);
  free(f->path);
  free(f);
}

/* Parse and validate one tensor entry. */
static int parse_entry(st_file *f, const char *name, const json_value *v, st_tensor *t, char *err,
                       size_t errlen) {
  const char *p = f->path;
  if (v->type != JSON_OBJECT)
    return set_err(err, errlen, "%s: tensor '%s': header entry is a JSON %s, not an object", p, name,
                  json_type_name(v->type));
  const json_value *dt = json_get(v, "dtype"), *sh = json_get(v, "shape"), *off = json_get(v, "data_offsets");
  if (!dt || dt->type != JSON_STRING)
    return set_err(err, errlen, "%s: tensor '%s': missing or non-string \"dtype\"", p, name);
  int d = parse_dtype(dt->text);
  if (d < 0) return set_err(err, errlen, "%s: tensor '%s': unknown dtype '%s'", p, name, dt->text);
  t->dtype = (st_dtype)d;
  if (!sh || sh->type != JSON_ARRAY)
    return set_err(err, errlen, "%s: tensor '%s': missing or non-array \"shape\"", p, name);
  if (sh->n > ST_MAX_RANK)
    return set_err(err, errlen, "%s: tensor '%s': rank %zu above %d", p, name, sh->n, ST_MAX_RANK);
  t->rank = (int)sh->n;
  uint64_t count = 1;
  for (size_t i = 0; i < sh->n; i++) {
    unsigned long long x;
    if (sh->items[i]->type != JSON_NUMBER || json_to_u64(sh->items[i], &x) != 0)
      return set_err(err, errlen, "%s: tensor '%s': shape entry %zu is not a non-negative integer", p,
                    name, i);
    t->shape[i] = x;
    if (x && count > UINT64_MAX / x)
      return set_err(err, errlen, "%s: tensor '%s': shape overflows", p, name);
    count *= x;
  }
  t->count = count;
  if (!off || off->type != JSON_ARRAY || off->n != 2)
    return set_err(err, errlen, "%s: tensor '%s': \"data_offsets\" must be [begin, end]", p, name);
  unsigned long long b, e;
  if (json_to_u64(off->items[0], &b) != 0 || json_to_u64(off->items[1], &e) != 0 || b > e)
    return set_err(err, errlen, "%s: tensor '%s': bad data_offsets (need integers 0 <= begin <= end)", p,
                  name);
  t->begin = b;
  t->end = e;
  uint64_t esz = dtypes[d].size;
  if (count > UINT64_MAX / esz || count * esz != e - b)
    return set_err(err, errlen,
                  "%s: tensor '%s': shape holds %llu %s values (%llu bytes) but data_offsets span "
                  "%llu bytes",
                  p, name, (unsigned long long)count, dtypes[d].name,
                  (unsigned long long)(count <= UINT64_MAX / esz ? count * esz : UINT64_MAX),
                  (unsigned long long)(e - b));
  return 0;
}

st_file *st_open(const char *path, char *err, size_t errlen) {
  st_file *f = xcalloc(1, sizeof *f);
  f->path = xstrdup(path);
  json_doc *doc = NULL;
  st_tensor **order = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    goto fail;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    close(fd);
    goto fail;
  }
  if (!S_ISREG(sb.st_mode)) {
    set_err(err, errlen, "%s: not a regular file", path);
    close(fd);
    goto fail;
  }
  f->size = (size_t)sb.st_size;
  if (f->size < 8) {
    set_err(err, errlen, "%s: file is %zu bytes, too short for a safetensors header", path, f->size);
    close(fd);
    goto fail;
  }
  void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) {
    f->size = 0;
    set_err(err, errlen, "%s: cannot map: %s", path, strerror(errno));
    goto fail;
  }
  f->map = m;
  uint64_t hlen;
  memcpy(&hlen, f->map, 8);
  if (hlen > ST_MAX_HEADER) {
    set_err(err, errlen, "%s: header length %llu exceeds the %u-byte cap (not a safetensors file?)", path,
           (unsigned long long)hlen, ST_MAX_HEADER);
    goto fail;
  }
  if (hlen > f->size - 8) {
    set_err(err, errlen, "%s: truncated: header length %llu but only %zu bytes follow", path,
           (unsigned long long)hlen, f->size - 8);
    goto fail;
  }
  f->data_start = 8 + (size_t)hlen;
  char jerr[256];
  doc = json_parse((const char *)f->map + 8, (size_t)hlen, jerr, sizeof jerr);
  if (!doc) {
    set_err(err, errlen, "%s: header is not valid JSON: %s", path, jerr);
    goto fail;
  }
  const json_value *root = json_root(doc);
  if (root->type != JSON_OBJECT) {
    set_err(err, errlen, "%s: header is a JSON %s, not an object", path, json_type_name(root->type));
    goto fail;
  }
  f->t = xcalloc(root->n ? root->n : 1, sizeof *f->t);
  for (size_t i = 0; i < root->n; i++) {
    const char *key = root->keys[i];
    const json_value *v = root->items[i];
    if (strcmp(key, "__metadata__") == 0) {
      if (v->type != JSON_OBJECT) {
        set_err(err, errlen, "%s: __metadata__ is not an object", path);
        goto fail;
      }
      f->meta_key = xcalloc(v->n + 1, sizeof(char *));
      f->meta_val = xcalloc(v->n + 1, sizeof(char *));
      for (size_t j = 0; j < v->n; j++) {
        if (v->items[j]->type != JSON_STRING) {
          set_err(err, errlen, "%s: __metadata__ value of '%s' is not a string", path, v->keys[j]);
          goto fail;
        }
        f->meta_key[f->nmeta] = xstrdup(v->keys[j]);
        f->meta_val[f->nmeta++] = xstrdup(v->items[j]->text);
      }
      continue;
    }
    for (int j = 0; j < f->n; j++)
      if (strcmp(f->t[j].name, key) == 0) {
        set_err(err, errlen, "%s: tensor '%s' appears twice in the header", path, key);
        goto fail;
      }
    st_tensor *t = &f->t[f->n];
    if (parse_entry(f, key, v, t, err, errlen) != 0) goto fail;
    t->name = xstrdup(key);
    f->n++;
  }
  /* Spans must tile the data section exactly: sorted by begin, each starts
   * where the previous ended, the first at 0 and the last at the file end. */
  size_t data_len = f->size - f->data_start;
  order = xmalloc((f->n ? f->n : 1) * sizeof *order);
  for (int i = 0; i < f->n; i++) order[i] = &f->t[i];
  qsort(order, f->n, sizeof *order, cmp_span);
  uint64_t pos = 0;
  for (int i = 0; i < f->n; i++) {
    const st_tensor *t = order[i];
    if (t->begin > pos) {
      set_err(err, errlen, "%s: tensor '%s': data starts at byte %llu, leaving a hole after byte %llu", path,
             t->name, (unsigned long long)t->begin, (unsigned long long)pos);
      goto fail;
    }
    if (t->begin < pos) {
      set_err(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu) overlap tensor '%s'", path, t->name,
             (unsigned long long)t->begin, (unsigned long long)t->end, order[i - 1]->name);
      goto fail;
    }
    pos = t->end;
  }
  if (pos != data_len) {
    if (pos > data_len) {
      const char *last = f->n ? order[f->n - 1]->name : "";
      set_err(err, errlen, "%s: truncated: tensor '%s' ends at data byte %llu but the file has %zu data bytes",
             path, last, (unsigned long long)pos, data_len);
    } else {
      set_err(err, errlen, "%s: %zu bytes of data after the last tensor (data section %zu bytes, tensors cover %llu)",
             path, data_len - (size_t)pos, data_len, (unsigned long long)pos);
    }
    goto fail;
  }
  free(order);
  json_free(doc);
  return f;
fail:
  free(order);
  if (doc) json_free(doc);
  st_close(f);
  return NULL;
}

const st_tensor *st_find(const st_file *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
  return NULL;
}

const char *st_meta(const st_file *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
  return NULL;
}

int st_read_f32(const st_file *f, const st_tensor *t, float *out, char *err, size_t errlen) {
  const unsigned char *src = f->map + f->data_start + t->begin;
  switch (t->dtype) {
  case ST_F32:
    memcpy(out, src, t->count * 4);
    return 0;
  case ST_F16:
    for (uint64_t i = 0; i < t->count; i++) {
      uint16_t h;
      memcpy(&h, src + 2 * i, 2);
      out[i] = st_f16_to_f32(h);
    }
    return 0;
  case ST_BF16:
    for (uint64_t i = 0; i < t->count; i++) {
      uint16_t h;
      memcpy(&h, src + 2 * i, 2);
      out[i] = st_bf16_to_f32(h);
    }
    return 0;
  case ST_F64:
    for (uint64_t i = 0; i < t->count; i++) {
      double x;
      memcpy(&x, src + 8 * i, 8);
      out[i] = (float)x;
    }
    return 0;
  default:
    return set_err(err, errlen, "%s: tensor '%s': unsupported dtype %s (need F32, F16, BF16 or F64)", f->path,
                  t->name, st_dtype_name(t->dtype));
  }
}

/* ----------------------------------------------------------------- write */

static int cmp_wname(const void *a, const void *b) {
  return strcmp((*(const st_write_tensor *const *)a)->name, (*(const st_write_tensor *const *)b)->name);
}

int st_write(const char *path, const st_write_tensor *t, int n, const char *const *meta_key,
             const char *const *meta_val, int nmeta, char *err, size_t errlen) {
  const st_write_tensor **ord = xmalloc((n ? n : 1) * sizeof *ord);
  for (int i = 0; i < n; i++) ord[i] = &t[i];
  qsort(ord, n, sizeof *ord, cmp_wname);
  for (int i = 1; i < n; i++)
    if (strcmp(ord[i]->name, ord[i - 1]->name) == 0) {
      set_err(err, errlen, "%s: tensor '%s' given twice", path, ord[i]->name);
      free(ord);
      return -1;
    }

  char *hdr = NULL;
  size_t hlen = 0;
  FILE *h = open_memstream(&hdr, &hlen);
  if (!h) {
    set_err(err, errlen, "%s: open_memstream: %s", path, strerror(errno));
    free(ord);
    return -1;
  }
  fputc('{', h);
  int first = 1;
  if (nmeta > 0) {
    fputs("\"__metadata__\":{", h);
    for (int i = 0; i < nmeta; i++) {
      if (i) fputc(',', h);
      json_write_string(h, meta_key[i], strlen(meta_key[i]));
      fputc(':', h);
      json_write_string(h, meta_val[i], strlen(meta_val[i]));
    }
    fputc('}', h);
    first = 0;
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    const st_write_tensor *w = ord[i];
    uint64_t count = 1;
    for (int k = 0; k < w->rank; k++) count *= w->shape[k];
    uint64_t bytes = count * st_dtype_size(w->dtype);
    if (!first) fputc(',', h);
    first = 0;
    json_write_string(h, w->name, strlen(w->name));
    fprintf(h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(w->dtype));
    for (int k = 0; k < w->rank; k++) fprintf(h, "%s%llu", k ? "," : "", (unsigned long long)w->shape[k]);
    fprintf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + bytes));
    off += bytes;
  }
  fputc('}', h);
  /* Pad with spaces so the data section starts 8-byte aligned. */
  while ((8 + ftell(h)) % 8) fputc(' ', h);
  if (fclose(h) != 0) {
    set_err(err, errlen, "%s: open_memstream: %s", path, strerror(errno));
    free(hdr);
    free(ord);
    return -1;
  }

  size_t plen = strlen(path) + 32;
  char *tmp = xmalloc(plen);
  snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
  FILE *out = fopen(tmp, "wb");
  int rc = -1;
  if (!out) {
    set_err(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
    goto done;
  }
  uint64_t hl = hlen;
  fwrite(&hl, 8, 1, out);
  fwrite(hdr, 1, hlen, out);
  for (int i = 0; i < n; i++) {
    const st_write_tensor *w = ord[i];
    uint64_t count = 1;
    for (int k = 0; k < w->rank; k++) count *= w->shape[k];
    if (count) fwrite(w->data, st_dtype_size(w->dtype), count, out);
  }
  if (fflush(out) != 0 || ferror(out) || fsync(fileno(out)) != 0) {
    set_err(err, errlen, "write error on '%s': %s", tmp, strerror(errno));
    fclose(out);
    unlink(tmp);
    goto done;
  }
  if (fclose(out) != 0) {
    set_err(err, errlen, "write error on '%s': %s", tmp, strerror(errno));
    unlink(tmp);
    goto done;
  }
  if (rename(tmp, path) != 0) {
    set_err(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    unlink(tmp);
    goto done;
  }
  rc = 0;
done:
  free(tmp);
  free(hdr);
  free(ord);
  return rc;
}
