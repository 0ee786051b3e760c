/* rec_json.c: records as JSON Lines (stream/rec_json.h). */
#include "stream/rec_json.h"
#include "base/json.h"
#include "base/util.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ---- */

typedef struct {
  uint8_t *p;
  size_t len, cap;
} bytes_t;

static void bytes_put(bytes_t *b, const void *x, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = b->cap ? b->cap * 2 : 4096;
    while (b->cap < b->len + n) b->cap *= 2;
    b->p = xrealloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, x, n);
  b->len += n;
}

typedef struct {
  const char *name;
  size_t line;
  const rec_field *f; /* the field being encoded, for messages */
  char *err;
  size_t errlen;
} enc_ctx;

static int enc_fail(const enc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int enc_fail(const enc_ctx *c, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->f) return set_err(c->err, c->errlen, "%s: line %zu: field '%s': %s", c->name, c->line, c->f->name, msg);
  return set_err(c->err, c->errlen, "%s: line %zu: %s", c->name, c->line, msg);
}

static int enc_number(const enc_ctx *c, const json_value *v, rec_type t, bytes_t *out) {
  if (v->type != JSON_NUMBER) return enc_fail(c, "expected a number, got %s", json_type_name(v->type));
  unsigned long long u;
  long long i;
  switch (t) {
  case REC_U8:
    if (json_to_u64(v, &u) || u > 255) return enc_fail(c, "'%.*s' is not a u8 (integer 0..255)", (int)v->len, v->text);
    bytes_put(out, &(uint8_t){(uint8_t)u}, 1);
    return 0;
  case REC_U32:
    if (json_to_u64(v, &u) || u > UINT32_MAX) return enc_fail(c, "'%.*s' is not a u32", (int)v->len, v->text);
    bytes_put(out, &(uint32_t){(uint32_t)u}, 4);
    return 0;
  case REC_I32:
    if (json_to_i64(v, &i) || i < INT32_MIN || i > INT32_MAX)
      return enc_fail(c, "'%.*s' is not an i32", (int)v->len, v->text);
    bytes_put(out, &(int32_t){(int32_t)i}, 4);
    return 0;
  case REC_F32: {
    float x;
    if (json_to_f32(v, &x)) return enc_fail(c, "'%.*s' does not fit an f32", (int)v->len, v->text);
    bytes_put(out, &x, 4);
    return 0;
  }
  case REC_F64: {
    double x;
    if (json_to_f64(v, &x)) return enc_fail(c, "'%.*s' does not fit an f64", (int)v->len, v->text);
    bytes_put(out, &x, 8);
    return 0;
  }
  default: return enc_fail(c, "not a numeric type");
  }
}

/* Nested arrays to a flat row-major buffer; shape[a] = -1 until the first
 * array at depth a is seen; every later one must agree (rectangular). */
static int enc_array(const enc_ctx *c, const json_value *v, int depth, int rank, rec_type t, int64_t *shape,
                     bytes_t *out) {
  if (depth == rank) return enc_number(c, v, t, out);
  if (v->type != JSON_ARRAY)
    return enc_fail(c, "expected an array at depth %d (the field has %d dimensions), got %s", depth + 1, rank,
                    json_type_name(v->type));
  if (v->n > UINT32_MAX) return enc_fail(c, "array too long");
  if (shape[depth] < 0) shape[depth] = (int64_t)v->n;
  else if (shape[depth] != (int64_t)v->n)
    return enc_fail(c, "ragged array: %zu elements at depth %d where an earlier row has %" PRId64, v->n, depth + 1,
                    shape[depth]);
  for (size_t k = 0; k < v->n; k++)
    if (enc_array(c, v->items[k], depth + 1, rank, t, shape, out) < 0) return -1;
  return 0;
}

typedef struct {
  const rec_schema *s;
  rec_writer *w;
  int64_t known[REC_MAX_DIMS]; /* dims fixed so far: the schema's, then those of the first record */
  bytes_t buf[REC_MAX_FIELDS];
} encoder;

/* One JSON object to the writer's pending record (not yet written). */
static int enc_object(encoder *e, enc_ctx *c, const json_value *obj, int64_t *rdim) {
  const rec_schema *s = e->s;
  if (obj->type != JSON_OBJECT) return enc_fail(c, "expected a JSON object, got %s", json_type_name(obj->type));
  int64_t shapes[REC_MAX_FIELDS][REC_MAX_RANK];
  bool present[REC_MAX_FIELDS] = {0};
  for (size_t m = 0; m < obj->n; m++) {
    int fi = rec_field_index(s, obj->keys[m]);
    if (fi < 0) return enc_fail(c, "unknown field '%s' for record type '%s'", obj->keys[m], s->record);
    if (present[fi]) return enc_fail(c, "field '%s' given twice", obj->keys[m]);
    const json_value *v = obj->items[m];
    c->f = &s->fields[fi];
    if (v->type == JSON_NULL) {
      if (!c->f->optional) return enc_fail(c, "null for a required field");
      c->f = NULL;
      continue;
    }
    present[fi] = true;
    if (c->f->type == REC_STR) {
      if (v->type != JSON_STRING) return enc_fail(c, "expected a string, got %s", json_type_name(v->type));
      rec_put_str(e->w, fi, v->text, v->len);
    } else {
      e->buf[fi].len = 0;
      for (int a = 0; a < REC_MAX_RANK; a++) shapes[fi][a] = -1;
      if (enc_array(c, v, 0, c->f->rank, c->f->type, shapes[fi], &e->buf[fi]) < 0) return -1;
    }
    c->f = NULL;
  }
  /* Extents an empty outer array cannot show come from the dims known so
   * far or from another field of this record sharing the dimension. */
  for (int d = 0; d < s->ndims; d++) rdim[d] = e->known[d] >= 0 ? e->known[d] : -1;
  for (int fi = 0; fi < s->nfields; fi++)
    if (present[fi] && s->fields[fi].type != REC_STR)
      for (int a = 0; a < s->fields[fi].rank; a++)
        if (shapes[fi][a] >= 0 && rdim[s->fields[fi].dim[a]] < 0) rdim[s->fields[fi].dim[a]] = shapes[fi][a];
  for (int fi = 0; fi < s->nfields; fi++) {
    if (!present[fi] || s->fields[fi].type == REC_STR) continue;
    uint32_t shape[REC_MAX_RANK];
    for (int a = 0; a < s->fields[fi].rank; a++) {
      int d = s->fields[fi].dim[a];
      int64_t x = shapes[fi][a] >= 0 ? shapes[fi][a] : rdim[d];
      if (x < 0) {
        if (s->dims[d].fixed != REC_DIM_PER_RECORD)
          return enc_fail(c, "field '%s': cannot tell dimension '%s' from an empty array; give it with --dim %s=N",
                          s->fields[fi].name, s->dims[d].name, s->dims[d].name);
        x = 0;
      }
      shape[a] = (uint32_t)x;
    }
    rec_put(e->w, fi, e->buf[fi].p ? e->buf[fi].p : (void *)"", shape);
  }
  return 0;
}

int rec_json_encode_file(FILE *in, const char *name, const rec_schema *s, rec_writer *w, char *err, size_t errlen) {
  encoder e = {.s = s, .w = w};
  for (int d = 0; d < s->ndims; d++) e.known[d] = s->dims[d].fixed;
  char *line = NULL, jerr[300];
  size_t cap = 0;
  ssize_t len;
  enc_ctx c = {name, 0, NULL, err, errlen};
  int rc = 0;
  while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
    c.line++;
    c.f = NULL;
    size_t k = 0;
    while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n')) k++;
    if (k == (size_t)len) continue;
    json_doc *doc = json_parse(line, (size_t)len, jerr, sizeof jerr);
    if (!doc) {
      rc = enc_fail(&c, "invalid JSON: %s", jerr);
      break;
    }
    int64_t rdim[REC_MAX_DIMS];
    if (enc_object(&e, &c, json_root(doc), rdim) < 0) rc = -1;
    else if (rec_write(w) < 0) rc = set_err(err, errlen, "%s: line %zu: %s", name, c.line, rec_writer_error(w));
    else if (rec_writer_count(w) == 1)
      for (int d = 0; d < s->ndims; d++)
        if (e.known[d] == REC_DIM_UNSET) e.known[d] = rdim[d];
    json_free(doc);
  }
  if (rc == 0 && ferror(in)) rc = set_err(err, errlen, "%s: read error", name);
  free(line);
  for (int i = 0; i < REC_MAX_FIELDS; i++) free(e.buf[i].p);
  return rc;
}

/* ---- decoding ---- */

/* The shortest text that reads back to the same f32 or f64; null for NaN/Inf. */
static void print_float(FILE *f, double x, bool f32) {
  char b[40];
  if (!isfinite(x)) {
    fputs("null", f);
    return;
  }
  if (f32) fmt_float(b, sizeof b, (float)x);
  else fmt_double(b, sizeof b, x);
  fputs(b, f);
}

static void write_values(FILE *f, const rec_field *fd, const rec_value *v, int depth, size_t *k) {
  if (depth == fd->rank) {
    const uint8_t *p = (const uint8_t *)v->data;
    size_t i = (*k)++;
    switch (fd->type) {
    case REC_U8: fprintf(f, "%u", p[i]); break;
    case REC_U32: { uint32_t x; memcpy(&x, p + 4 * i, 4); fprintf(f, "%" PRIu32, x); break; }
    case REC_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); fprintf(f, "%" PRId32, x); break; }
    case REC_F32: { float x; memcpy(&x, p + 4 * i, 4); print_float(f, x, true); break; }
    case REC_F64: { double x; memcpy(&x, p + 8 * i, 8); print_float(f, x, false); break; }
    default: break;
    }
    return;
  }
  putc('[', f);
  for (uint32_t j = 0; j < v->shape[depth]; j++) {
    if (j) putc(',', f);
    write_values(f, fd, v, depth + 1, k);
  }
  putc(']', f);
}

void rec_json_write(FILE *out, const rec_record *rec) {
  const rec_schema *s = rec->schema;
  putc('{', out);
  bool first = true;
  for (int i = 0; i < s->nfields; i++) {
    if (!rec_has(rec, i)) continue;
    if (!first) putc(',', out);
    first = false;
    json_write_string(out, s->fields[i].name, strlen(s->fields[i].name));
    putc(':', out);
    if (s->fields[i].type == REC_STR) json_write_string(out, rec->v[i].data, rec->v[i].count);
    else {
      size_t k = 0;
      write_values(out, &s->fields[i], &rec->v[i], 0, &k);
    }
  }
  fputs("}\n", out);
}

int rec_json_dump(rec_reader *r, FILE *out, char *err, size_t errlen) {
  rec_record rec;
  int rc;
  while ((rc = rec_read(r, &rec)) == 0) {
    rec_json_write(out, &rec);
    if (ferror(out)) return set_err(err, errlen, "write error");
  }
  return rc < 0 ? set_err(err, errlen, "%s", rec_error(r)) : 0;
}
