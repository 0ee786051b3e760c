/* rec.c: reading and writing the record stream (format: schemas/README.md).
 *
 * Layers of the reader: raw input (a file descriptor through a buffer, or a
 * memory block), optionally zstd decompression, then frames (16-byte header
 * with its own CRC, payload with a CRC, zero padding to 8 bytes), then records
 * decoded into views that point into the frame buffer. An uncompressed memory
 * block is read in place: record views point into it, nothing is copied. */
#include "stream/rec.h"
#include "stream/frame.h"
#include "stream/tmpfile.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

enum { KIND_SCHEMA = 1, KIND_RECORD = 2, KIND_END = 3 };
#define HDR_LEN 16
#define IBUF_LEN (1u << 20)
#define FLUSH_LEN (1u << 20)

static const uint8_t zstd_magic[4] = {0x28, 0xB5, 0x2F, 0xFD};

static inline size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }
static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static const char *display_name(const char *name) {
  return !name || strcmp(name, "-") == 0 ? "stdin" : name;
}

/* ---- UTF-8 ---- */

size_t utf8_check(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    /* ASCII runs 8 bytes at a time: the common case for ids and most text. */
    while (i + 8 <= len) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= len) break;
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;      /* overlong */
      else if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;      /* overlong */
      else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else
      return i;
    if (n >= len - i) return i; /* the sequence runs past the end */
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k <= n; k++)
      if ((s[i + k] & 0xC0) != 0x80) return i;
    i += n + 1;
  }
  return len;
}

/* Finite checks: a value is NaN or Inf when its exponent bits are all ones.
 * Blocks are tested branch-free with vector extensions (GCC and clang; -O2
 * does not vectorize the plain loop), the culprit located afterwards. */
typedef uint32_t v4u32 __attribute__((vector_size(16)));
static bool all_finite_f32(const float *x, size_t n, size_t *bad) {
  const uint8_t *b = (const uint8_t *)x;
  const v4u32 exp = {0x7F800000u, 0x7F800000u, 0x7F800000u, 0x7F800000u};
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v4u32 a, c, d, e;
    memcpy(&a, b + 4 * i, 16);
    memcpy(&c, b + 4 * i + 16, 16);
    memcpy(&d, b + 4 * i + 32, 16);
    memcpy(&e, b + 4 * i + 48, 16);
    v4u32 hit = ((a & exp) == exp) | ((c & exp) == exp) | ((d & exp) == exp) | ((e & exp) == exp);
    uint64_t lo, hi;
    memcpy(&lo, &hit, 8);
    memcpy(&hi, (const uint8_t *)&hit + 8, 8);
    if (lo | hi) break;
  }
  for (; i < n; i++)
    if (!isfinite(x[i])) {
      *bad = i;
      return false;
    }
  return true;
}

static bool all_finite_f64(const double *x, size_t n, size_t *bad) {
  const uint8_t *b = (const uint8_t *)x;
  for (size_t i = 0; i < n; i += 128) {
    size_t m = n - i < 128 ? n - i : 128;
    uint64_t any = 0;
    for (size_t j = 0; j < m; j++) {
      uint64_t u;
      memcpy(&u, b + 8 * (i + j), 8);
      any |= (~u & 0x7FF0000000000000ull) == 0;
    }
    if (any)
      for (size_t j = 0; j < m; j++)
        if (!isfinite(x[i + j])) {
          *bad = i + j;
          return false;
        }
  }
  return true;
}

/* ---- schema frame payload ---- */

typedef struct {
  uint8_t *p;
  size_t len, cap;
} buf_t;

static void buf_need(buf_t *b, size_t more) {
  if (b->len + more > b->cap) {
    size_t c = b->cap ? b->cap : 4096;
    while (c < b->len + more) c *= 2;
    b->p = xrealloc(b->p, c);
    b->cap = c;
  }
}
static void buf_u32(buf_t *b, uint32_t v) { buf_need(b, 4); wr32(b->p + b->len, v); b->len += 4; }
static void buf_i64(buf_t *b, int64_t v) { buf_need(b, 8); wr64(b->p + b->len, (uint64_t)v); b->len += 8; }
static void buf_str(buf_t *b, const char *s) {
  size_t n = strlen(s);
  buf_u32(b, (uint32_t)n);
  buf_need(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void schema_encode(const rec_schema *s, buf_t *b) {
  buf_u32(b, REC_VERSION_MINOR);
  buf_str(b, s->record);
  buf_u32(b, (uint32_t)s->ndims);
  for (int i = 0; i < s->ndims; i++) {
    buf_str(b, s->dims[i].name);
    buf_i64(b, s->dims[i].fixed);
  }
  buf_u32(b, (uint32_t)s->nfields);
  for (int i = 0; i < s->nfields; i++) {
    const rec_field *f = &s->fields[i];
    buf_str(b, f->name);
    buf_u32(b, (uint32_t)f->type);
    buf_u32(b, (uint32_t)f->rank);
    buf_u32(b, f->optional ? 1u : 0u);
    for (int a = 0; a < f->rank; a++) buf_u32(b, (uint32_t)f->dim[a]);
  }
  buf_u32(b, (uint32_t)s->nmeta);
  for (int i = 0; i < s->nmeta; i++) {
    buf_str(b, s->meta_key[i]);
    buf_str(b, s->meta_val[i]);
  }
}

typedef struct {
  const uint8_t *p, *end;
  const char *what; /* set on the first failure */
} cursor;

static bool cur_u32(cursor *c, uint32_t *v) {
  if (c->end - c->p < 4) return false;
  *v = rd32(c->p);
  c->p += 4;
  return true;
}
static bool cur_i64(cursor *c, int64_t *v) {
  if (c->end - c->p < 8) return false;
  *v = (int64_t)rd64(c->p);
  c->p += 8;
  return true;
}
/* Strings in the schema frame: UTF-8, no NUL, at most 64 KiB. */
static char *cur_str(cursor *c) {
  uint32_t n;
  if (!cur_u32(c, &n) || n > 65536 || (size_t)(c->end - c->p) < n) return NULL;
  if (memchr(c->p, 0, n) || utf8_check((const char *)c->p, n) != n) return NULL;
  char *s = xmalloc(n + 1);
  memcpy(s, c->p, n);
  s[n] = 0;
  c->p += n;
  return s;
}

static rec_schema *schema_decode(const uint8_t *p, size_t len, char *err, size_t errlen) {
  cursor c = {p, p + len, NULL};
  rec_schema *s = xcalloc(1, sizeof *s);
  uint32_t minor, n;
#define BAD(msg)                                         \
  do {                                                   \
    snprintf(err, errlen, "invalid schema frame: %s", msg); \
    rec_schema_free(s);                                  \
    return NULL;                                         \
  } while (0)
  if (!cur_u32(&c, &minor)) BAD("too short");
  if (!(s->record = cur_str(&c))) BAD("bad record type name");
  if (!cur_u32(&c, &n)) BAD("truncated dimension count");
  if (n > REC_MAX_DIMS) BAD("too many dimensions");
  for (uint32_t i = 0; i < n; i++) {
    if (!(s->dims[i].name = cur_str(&c))) BAD("bad dimension name");
    s->ndims = (int)i + 1;
    if (!cur_i64(&c, &s->dims[i].fixed)) BAD("truncated dimension");
  }
  if (!cur_u32(&c, &n)) BAD("truncated field count");
  if (n > REC_MAX_FIELDS) BAD("too many fields");
  for (uint32_t i = 0; i < n; i++) {
    rec_field *f = &s->fields[i];
    uint32_t type, rank, flags;
    if (!(f->name = cur_str(&c))) BAD("bad field name");
    s->nfields = (int)i + 1;
    if (!cur_u32(&c, &type) || !cur_u32(&c, &rank) || !cur_u32(&c, &flags)) BAD("truncated field");
    if (type < REC_U8 || type > REC_STR) BAD("unknown field type");
    if (rank > REC_MAX_RANK) BAD("field rank too large");
    if (flags > 1) BAD("unknown field flags");
    f->type = (rec_type)type;
    f->rank = (int)rank;
    f->optional = flags & 1;
    for (uint32_t a = 0; a < rank; a++) {
      uint32_t d;
      if (!cur_u32(&c, &d)) BAD("truncated field shape");
      if (d >= (uint32_t)s->ndims) BAD("field shape refers to an undeclared dimension");
      f->dim[a] = (int)d;
    }
  }
  if (!cur_u32(&c, &n)) BAD("truncated metadata count");
  if (n > 65536) BAD("too many metadata entries");
  for (uint32_t i = 0; i < n; i++) {
    char *k = cur_str(&c), *v = k ? cur_str(&c) : NULL;
    if (!k || !v) {
      free(k);
      BAD("bad metadata entry");
    }
    rec_meta_append(s, k, v); /* a repeated key is refused by rec_schema_validate below */
    free(k);
    free(v);
  }
  /* A later minor version may append to the schema frame; this one must not. */
  if (c.p != c.end && minor <= REC_VERSION_MINOR) BAD("unexpected bytes after the metadata");
  char verr[200];
  if (rec_schema_validate(s, verr, sizeof verr) != 0) {
    snprintf(err, errlen, "invalid schema frame: %s", verr);
    rec_schema_free(s);
    return NULL;
  }
  return s;
#undef BAD
}

/* ================================================================ reader */

struct rec_reader {
  char *name;
  int fd;
  bool own_fd;
  /* raw input: memory block, or fd through ibuf */
  const uint8_t *mem;
  size_t memlen, mempos;
  bool is_mem, inplace;
  uint8_t *ibuf;
  size_t ipos, ilen;
  bool ieof;
  /* zstd */
  bool compressed;
  ZSTD_DCtx *dctx;
  ZSTD_inBuffer zin;
  uint8_t *zbuf;
  size_t zpos, zlen, zlast;
  uint64_t raw_total; /* bytes read from the fd so far (the compressed offset) */
  /* frames */
  uint64_t off, frame_off;
  uint8_t *fbuf;
  size_t fcap;
  int phase; /* 0 header, 1 schema frame, 2 records, 3 end frame */
  rec_schema *schema;
  int nrecdims, recdims[REC_MAX_DIMS];
  uint64_t count;
  int state; /* 0 reading, 1 clean end, -1 error */
  bool allow_nonfinite;
  /* the last record frame, for verbatim copies (valid until the next read) */
  const uint8_t *last_payload;
  uint32_t last_len, last_crc, frame_crc;
  uint64_t serial; /* tells readers apart for a writer's cached layout check */
  char err[1024];
};

static int rfail(rec_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rfail(rec_reader *r, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  unsigned long long off = (unsigned long long)r->frame_off;
  switch (r->phase) {
  case 0: snprintf(r->err, sizeof r->err, "%s: byte %llu: %s", r->name, off, msg); break;
  case 1: snprintf(r->err, sizeof r->err, "%s: schema frame (byte %llu): %s", r->name, off, msg); break;
  case 3: snprintf(r->err, sizeof r->err, "%s: end frame (byte %llu): %s", r->name, off, msg); break;
  default:
    snprintf(r->err, sizeof r->err, "%s: record %llu (byte %llu): %s", r->name, (unsigned long long)r->count, off,
             msg);
  }
  r->state = -1;
  return -1;
}

/* Fill ibuf from the fd: bytes available, 0 at end of input, -1 on error. */
static ssize_t raw_fill(rec_reader *r) {
  if (r->ipos < r->ilen) return (ssize_t)(r->ilen - r->ipos);
  if (r->ieof) return 0;
  r->ipos = r->ilen = 0;
  for (;;) {
    ssize_t n = read(r->fd, r->ibuf, IBUF_LEN);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return rfail(r, "read error: %s", strerror(errno));
    if (n == 0) r->ieof = true;
    r->ilen = (size_t)n;
    r->raw_total += (uint64_t)n;
    return n;
  }
}

/* Read up to n bytes of raw input; returns the count (short only at end). */
static ssize_t raw_read(rec_reader *r, uint8_t *dst, size_t n) {
  if (r->is_mem) {
    size_t k = r->memlen - r->mempos < n ? r->memlen - r->mempos : n;
    memcpy(dst, r->mem + r->mempos, k);
    r->mempos += k;
    return (ssize_t)k;
  }
  size_t got = 0;
  while (got < n) {
    if (r->ipos == r->ilen && n - got >= 65536 && !r->ieof) {
      /* large payloads bypass the buffer (one copy less) */
      ssize_t k = read(r->fd, dst + got, n - got);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return rfail(r, "read error: %s", strerror(errno));
      if (k == 0) {
        r->ieof = true;
        break;
      }
      got += (size_t)k;
      continue;
    }
    ssize_t a = raw_fill(r);
    if (a < 0) return -1;
    if (a == 0) break;
    size_t k = (size_t)a < n - got ? (size_t)a : n - got;
    memcpy(dst + got, r->ibuf + r->ipos, k);
    r->ipos += k;
    got += k;
  }
  return (ssize_t)got;
}

/* Decompressed bytes: up to n, short only at the end of the zstd stream. */
static ssize_t z_read(rec_reader *r, uint8_t *dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    if (r->zpos < r->zlen) {
      size_t k = r->zlen - r->zpos < n - got ? r->zlen - r->zpos : n - got;
      memcpy(dst + got, r->zbuf + r->zpos, k);
      r->zpos += k;
      got += k;
      continue;
    }
    if (r->zin.pos == r->zin.size) {
      if (r->is_mem) {
        if (r->zlast != 0) break; /* handled below: input ended inside a zstd frame */
        return (ssize_t)got;
      }
      r->ipos = r->ilen; /* zin consumed all of ibuf */
      ssize_t a = raw_fill(r);
      if (a < 0) return -1;
      if (a == 0) {
        if (r->zlast != 0) break;
        return (ssize_t)got;
      }
      r->zin.src = r->ibuf;
      r->zin.size = r->ilen;
      r->zin.pos = 0;
    }
    /* Decompress straight into dst when the request is large. */
    bool direct = n - got >= ZSTD_DStreamOutSize();
    ZSTD_outBuffer out = {direct ? dst + got : r->zbuf, direct ? n - got : ZSTD_DStreamOutSize(), 0};
    size_t ret = ZSTD_decompressStream(r->dctx, &out, &r->zin);
    if (ZSTD_isError(ret))
      return rfail(r, "zstd decompression failed: %s (corrupted or truncated .zst data)", ZSTD_getErrorName(ret));
    r->zlast = ret;
    if (direct) got += out.pos;
    else {
      r->zpos = 0;
      r->zlen = out.pos;
    }
  }
  if (got < n && r->zlast != 0) {
    /* Where it stops, in both streams: the decompressed offset (what every
     * other message counts) and the length of the compressed input. */
    uint64_t dend = r->off + got, zend = r->is_mem ? r->memlen : r->raw_total;
    if (r->phase == 0) { /* no frame yet to name: the place is the compressed offset */
      snprintf(r->err, sizeof r->err,
               "%s: compressed byte %" PRIu64 ": truncated zstd stream: the input ends inside a zstd frame (%" PRIu64
               " bytes decompressed before it)",
               r->name, zend, dend);
      r->state = -1;
      return -1;
    }
    return rfail(r,
                 "truncated zstd stream: the input ends inside a zstd frame at compressed byte %" PRIu64
                 " (decompressed byte %" PRIu64 ")",
                 zend, dend);
  }
  return (ssize_t)got;
}

static ssize_t stream_read(rec_reader *r, uint8_t *dst, size_t n) {
  ssize_t k = r->compressed ? z_read(r, dst, n) : raw_read(r, dst, n);
  if (k > 0) r->off += (uint64_t)k;
  return k;
}

static const char *frame_kind_name(uint32_t kind) {
  return kind == KIND_SCHEMA ? "schema" : kind == KIND_RECORD ? "record" : kind == KIND_END ? "end" : "unknown";
}

static const char *frame_phrase(uint32_t kind) {
  return kind == KIND_SCHEMA ? "the schema frame" : kind == KIND_RECORD ? "a record frame" : "the end frame";
}

/* Read one frame. 0 = got it, 2 = end of input at a frame boundary, -1 = error. */
static int read_frame(rec_reader *r, uint32_t *kind, const uint8_t **payload, uint32_t *len) {
  r->frame_off = r->off;
  uint8_t hbuf[HDR_LEN];
  const uint8_t *h;
  if (r->inplace) {
    size_t rem = r->memlen - r->mempos;
    if (rem == 0) return 2;
    if (rem < HDR_LEN)
      return rfail(r, "truncated stream: input ends inside a frame header (%zu of %d bytes)", rem, HDR_LEN);
    h = r->mem + r->mempos;
    r->mempos += HDR_LEN;
    r->off += HDR_LEN;
  } else {
    ssize_t got = stream_read(r, hbuf, HDR_LEN);
    if (got < 0) return -1;
    if (got == 0) return 2;
    if (got < HDR_LEN)
      return rfail(r, "truncated stream: input ends inside a frame header (%zd of %d bytes)", got, HDR_LEN);
    h = hbuf;
  }
  uint32_t hcrc = crc32c(0, h, 12), stored_hcrc = rd32(h + 12);
  if (hcrc != stored_hcrc)
    return rfail(r, "frame header CRC-32C mismatch (stored %08x, computed %08x): corrupted data", stored_hcrc, hcrc);
  *kind = rd32(h);
  *len = rd32(h + 4);
  uint32_t pcrc = rd32(h + 8);
  r->frame_crc = pcrc;
  if (*kind == KIND_END && r->phase == 2) r->phase = 3;
  if (*kind < KIND_SCHEMA || *kind > KIND_END) return rfail(r, "unknown frame kind %" PRIu32, *kind);
  if (*len > REC_MAX_FRAME)
    return rfail(r, "%s frame length %" PRIu32 " exceeds the limit of %u bytes", frame_kind_name(*kind), *len,
                 REC_MAX_FRAME);
  size_t padded = pad8(*len);
  if (r->inplace) {
    size_t rem = r->memlen - r->mempos;
    if (rem < padded)
      return rfail(r, "truncated stream: input ends inside %s (%zu of %zu payload bytes)",
                   frame_phrase(*kind), rem, padded);
    *payload = r->mem + r->mempos;
    r->mempos += padded;
    r->off += padded;
  } else {
    /* Grow the buffer as bytes arrive: a length that is valid but larger than
     * the input never costs its full allocation. */
    size_t have = 0;
    if (!r->fbuf) {
      r->fcap = 4096;
      r->fbuf = xmalloc(r->fcap);
    }
    while (have < padded) {
      if (r->fcap < padded && r->fcap < have + 65536) {
        size_t c = r->fcap < 65536 ? 65536 : r->fcap * 2;
        if (c > padded) c = padded;
        r->fbuf = xrealloc(r->fbuf, c);
        r->fcap = c;
      }
      size_t want = (r->fcap < padded ? r->fcap : padded) - have;
      ssize_t got = stream_read(r, r->fbuf + have, want);
      if (got < 0) return -1;
      have += (size_t)got;
      if ((size_t)got < want)
        return rfail(r, "truncated stream: input ends inside %s (%zu of %zu payload bytes)",
                     frame_phrase(*kind), have, padded);
    }
    *payload = r->fbuf;
  }
  uint32_t c = crc32c(0, *payload, *len);
  if (c != pcrc)
    return rfail(r, "payload CRC-32C mismatch in %s frame (stored %08x, computed %08x): corrupted data",
                 frame_kind_name(*kind), pcrc, c);
  for (size_t i = *len; i < padded; i++)
    if ((*payload)[i]) return rfail(r, "nonzero padding byte in %s frame", frame_kind_name(*kind));
  return 0;
}

static void describe_bad_magic(const uint8_t *b, size_t n, char *hint, size_t hlen) {
  hint[0] = 0;
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
    snprintf(hint, hlen, "; it looks like gzip data (decompress it first)");
    return;
  }
  size_t printable = 0;
  for (size_t i = 0; i < n; i++)
    if ((b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] >= 0x80) printable++;
  if (n > 0 && printable == n) {
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) i++;
    if (i < n && b[i] == '{')
      snprintf(hint, hlen, "; it looks like JSON text (convert JSON Lines with 'rec encode --schema NAME')");
    else
      snprintf(hint, hlen, "; it looks like text (convert TSV with 'rec from-tsv', JSON Lines with 'rec encode')");
  }
}

static atomic_uint_fast64_t reader_serials;

static rec_reader *open_common(rec_reader *r, char *err, size_t errlen) {
  r->allow_nonfinite = false;
  r->serial = atomic_fetch_add(&reader_serials, 1) + 1;
  uint8_t hdr[8];
  size_t avail;
  const uint8_t *peek;
  if (r->is_mem) {
    avail = r->memlen;
    peek = r->mem;
  } else {
    r->ibuf = xmalloc(IBUF_LEN);
    /* a pipe may deliver the first 8 bytes in pieces */
    while (r->ilen < 8 && !r->ieof) {
      ssize_t k = read(r->fd, r->ibuf + r->ilen, IBUF_LEN - r->ilen);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) {
        rfail(r, "read error: %s", strerror(errno));
        goto fail;
      }
      if (k == 0) r->ieof = true;
      r->ilen += (size_t)k;
      r->raw_total += (uint64_t)k;
    }
    avail = r->ilen;
    peek = r->ibuf;
  }
  if (avail >= 4 && memcmp(peek, zstd_magic, 4) == 0) {
    r->compressed = true;
    r->dctx = ZSTD_createDCtx();
    r->zbuf = xmalloc(ZSTD_DStreamOutSize());
    if (!r->dctx) {
      rfail(r, "cannot create a zstd decompression context");
      goto fail;
    }
    r->zin.src = peek;
    r->zin.size = avail;
    r->zin.pos = 0;
    if (r->is_mem) r->mempos = r->memlen;
  } else if (r->is_mem && ((uintptr_t)r->mem & 7) == 0) {
    r->inplace = true;
  }
  ssize_t got = stream_read(r, hdr, 8);
  if (got < 0) goto fail;
  if (got == 0) {
    rfail(r, "empty input: expected an otclir record stream%s", r->compressed ? " inside the zstd data" : "");
    goto fail;
  }
  if (got < 8 || memcmp(hdr, REC_MAGIC, 7) != 0) {
    char hint[160];
    describe_bad_magic(hdr, (size_t)got, hint, sizeof hint);
    if (got < 8 && memcmp(hdr, REC_MAGIC, (size_t)got) == 0)
      rfail(r, "truncated stream: input ends inside the 8-byte file header");
    else
      rfail(r, "not an otclir record stream (bad magic%s)%s", r->compressed ? " inside zstd-compressed data" : "",
            hint);
    goto fail;
  }
  if (hdr[7] != REC_VERSION_MAJOR) {
    rfail(r, "unsupported stream format version %u (this reader knows version %d)", hdr[7], REC_VERSION_MAJOR);
    goto fail;
  }
  r->phase = 1;
  uint32_t kind, len;
  const uint8_t *payload;
  int rc = read_frame(r, &kind, &payload, &len);
  if (rc < 0) goto fail;
  if (rc == 2) {
    rfail(r, "truncated stream: no schema frame after the file header");
    goto fail;
  }
  if (kind != KIND_SCHEMA) {
    rfail(r, "expected the schema frame first, got %s", frame_phrase(kind));
    goto fail;
  }
  char serr[300];
  r->schema = schema_decode(payload, len, serr, sizeof serr);
  if (!r->schema) {
    rfail(r, "%s", serr);
    goto fail;
  }
  for (int d = 0; d < r->schema->ndims; d++)
    if (r->schema->dims[d].fixed == REC_DIM_PER_RECORD) r->recdims[r->nrecdims++] = d;
  r->phase = 2;
  return r;
fail:
  snprintf(err, errlen, "%s", r->err);
  rec_close(r);
  return NULL;
}

rec_reader *rec_open_fd(int fd, const char *name, char *err, size_t errlen) {
  rec_reader *r = xcalloc(1, sizeof *r);
  r->name = xstrdup(display_name(name));
  r->fd = fd;
  return open_common(r, err, errlen);
}

rec_reader *rec_open_path(const char *path, char *err, size_t errlen) {
  if (strcmp(path, "-") == 0) return rec_open_fd(0, "-", err, errlen);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  rec_reader *r = xcalloc(1, sizeof *r);
  r->name = xstrdup(path);
  r->fd = fd;
  r->own_fd = true;
  return open_common(r, err, errlen);
}

rec_reader *rec_open_mem(const void *buf, size_t len, const char *name, char *err, size_t errlen) {
  rec_reader *r = xcalloc(1, sizeof *r);
  r->name = xstrdup(display_name(name));
  r->fd = -1;
  r->is_mem = true;
  r->mem = buf;
  r->memlen = len;
  return open_common(r, err, errlen);
}

const rec_schema *rec_reader_schema(const rec_reader *r) { return r->schema; }
const char *rec_error(const rec_reader *r) { return r->err; }
const char *rec_reader_name(const rec_reader *r) { return r->name; }
uint64_t rec_reader_count(const rec_reader *r) { return r->count; }
uint64_t rec_reader_offset(const rec_reader *r) { return r->frame_off; }
bool rec_reader_compressed(const rec_reader *r) { return r->compressed; }
void rec_reader_allow_nonfinite(rec_reader *r, bool allow) { r->allow_nonfinite = allow; }

void rec_close(rec_reader *r) {
  if (!r) return;
  if (r->own_fd && r->fd >= 0) close(r->fd);
  ZSTD_freeDCtx(r->dctx);
  free(r->zbuf);
  free(r->ibuf);
  free(r->fbuf);
  free(r->name);
  rec_schema_free(r->schema);
  free(r);
}

static int decode_record(rec_reader *r, const uint8_t *p, uint32_t len, rec_record *out) {
  const rec_schema *s = r->schema;
  const uint8_t *end = p + len;
  if (len < 8) return rfail(r, "record frame too short (%" PRIu32 " bytes)", len);
  uint64_t present = rd64(p);
  p += 8;
  if (s->nfields < 64 && (present >> s->nfields))
    return rfail(r, "presence bitmap names fields beyond the %d of the schema", s->nfields);
  int64_t dimval[REC_MAX_DIMS];
  for (int d = 0; d < s->ndims; d++) dimval[d] = s->dims[d].fixed;
  size_t dbytes = pad8(4 * (size_t)r->nrecdims);
  if ((size_t)(end - p) < dbytes) return rfail(r, "record frame too short for its %d dimensions", r->nrecdims);
  for (int i = 0; i < r->nrecdims; i++) dimval[r->recdims[i]] = rd32(p + 4 * i);
  if (r->nrecdims & 1 && rd32(p + 4 * r->nrecdims) != 0) return rfail(r, "nonzero padding after the dimensions");
  /* Hostile sizes (schemas/README.md 1.3): a per-record dimension is backed
   * by the frame. One that no present field uses must be 0, and none may
   * exceed the payload length, so a consumer that allocates from a record's
   * dimensions allocates at most about what the input holds. */
  uint32_t used = 0; /* bit d: a present field has dimension d */
  for (int i = 0; i < s->nfields; i++)
    if (present >> i & 1)
      for (int a = 0; a < s->fields[i].rank; a++) used |= 1u << s->fields[i].dim[a];
  for (int i = 0; i < r->nrecdims; i++) {
    int d = r->recdims[i];
    if (!(used >> d & 1) && dimval[d] != 0)
      return rfail(r, "dimension '%s' = %" PRId64 " but no field of the record uses it (it must be 0)",
                   s->dims[d].name, dimval[d]);
    if (dimval[d] > (int64_t)len)
      return rfail(r, "dimension '%s' = %" PRId64 " is more than the %" PRIu32 "-byte record frame can hold",
                   s->dims[d].name, dimval[d], len);
  }
  p += dbytes;
  out->schema = s;
  out->index = r->count;
  out->offset = r->frame_off;
  for (int i = 0; i < s->nfields; i++) {
    const rec_field *f = &s->fields[i];
    rec_value *v = &out->v[i];
    memset(v, 0, sizeof *v);
    if (!(present >> i & 1)) {
      if (!f->optional) return rfail(r, "required field '%s' is missing", f->name);
      continue;
    }
    size_t avail = (size_t)(end - p), nbytes, total;
    if (f->type == REC_STR) {
      if (avail < 8) return rfail(r, "field '%s': record frame ends early", f->name);
      nbytes = rd32(p);
      total = pad8(4 + nbytes + 1);
      if (total > avail) return rfail(r, "field '%s': string of %zu bytes runs past the frame", f->name, nbytes);
      const char *str = (const char *)p + 4;
      if (memchr(str, 0, nbytes))
        return rfail(r, "field '%s': NUL byte at string offset %zu", f->name,
                     (size_t)((const char *)memchr(str, 0, nbytes) - str));
      size_t bad = utf8_check(str, nbytes);
      if (bad != nbytes) return rfail(r, "field '%s': invalid UTF-8 at string offset %zu", f->name, bad);
      for (size_t k = 4 + nbytes; k < total; k++)
        if (p[k]) return rfail(r, "field '%s': nonzero padding after the string", f->name);
      v->data = str;
      v->count = nbytes;
    } else {
      uint64_t count = 1;
      size_t esize = rec_type_size(f->type);
      for (int a = 0; a < f->rank; a++) {
        int64_t dv = dimval[f->dim[a]];
        if (dv < 0)
          return rfail(r, "field '%s': stream dimension '%s' is not set in the schema", f->name,
                       s->dims[f->dim[a]].name);
        v->shape[a] = (uint32_t)dv;
        count *= (uint64_t)dv; /* each factor < 2^32 and checked below before the next */
        if (count > REC_MAX_FRAME) break;
      }
      if (count > avail / esize)
        return rfail(r, "field '%s': %" PRIu64 " %s values run past the frame", f->name, count,
                     rec_type_name(f->type));
      nbytes = (size_t)count * esize;
      total = pad8(nbytes);
      if (total > avail) return rfail(r, "field '%s': padding runs past the frame", f->name);
      for (size_t k = nbytes; k < total; k++)
        if (p[k]) return rfail(r, "field '%s': nonzero padding after the values", f->name);
      size_t bad;
      if (!r->allow_nonfinite && f->type == REC_F32 && !all_finite_f32((const float *)p, count, &bad))
        return rfail(r, "field '%s': %s at element %zu (finite numbers required)", f->name,
                     isnan(((const float *)p)[bad]) ? "NaN" : "Inf", bad);
      if (!r->allow_nonfinite && f->type == REC_F64 && !all_finite_f64((const double *)p, count, &bad))
        return rfail(r, "field '%s': %s at element %zu (finite numbers required)", f->name,
                     isnan(((const double *)p)[bad]) ? "NaN" : "Inf", bad);
      v->data = p;
      v->count = (size_t)count;
    }
    p += total;
  }
  if (p != end) return rfail(r, "%zu unexpected bytes at the end of the record frame", (size_t)(end - p));
  return 0;
}

int rec_read(rec_reader *r, rec_record *out) {
  if (r->state) return r->state;
  uint32_t kind, len;
  const uint8_t *payload;
  int rc = read_frame(r, &kind, &payload, &len);
  if (rc < 0) return -1;
  if (rc == 2)
    return rfail(r, "truncated stream: input ends after %" PRIu64
                    " records without an end frame (did the producing program fail?)",
                 r->count);
  if (kind == KIND_SCHEMA)
    return rfail(r, "unexpected second schema frame (concatenated streams? join them with 'rec cat')");
  if (kind == KIND_END) {
    if (len != 8) return rfail(r, "end frame payload is %" PRIu32 " bytes, expected 8", len);
    uint64_t n = rd64(payload);
    if (n != r->count)
      return rfail(r, "end frame counts %" PRIu64 " records but %" PRIu64 " were read", n, r->count);
    uint8_t extra;
    ssize_t k;
    r->frame_off = r->off;
    if (r->inplace) k = r->memlen > r->mempos;
    else k = stream_read(r, &extra, 1);
    if (k < 0) return -1;
    if (k > 0)
      return rfail(r, "trailing data after the end frame (concatenated streams? join them with 'rec cat')");
    r->state = 1;
    return 1;
  }
  if (decode_record(r, payload, len, out) < 0) return -1;
  r->last_payload = payload;
  r->last_len = len;
  r->last_crc = r->frame_crc;
  r->count++;
  return 0;
}

const void *rec_reader_frame(const rec_reader *r, const rec_record *rec, uint32_t *len, uint32_t *crc) {
  if (!r->last_payload || rec->schema != r->schema || rec->index + 1 != r->count || r->state != 0) return NULL;
  *len = r->last_len;
  *crc = r->last_crc;
  return r->last_payload;
}

bool rec_reader_finite_checked(const rec_reader *r) { return !r->allow_nonfinite; }

/* ---- accessors ----
 * A field of another type is a programming error (rec_schema_expect at open
 * rules it out for every field of a builtin record type): the accessors then
 * return no data rather than end the program. */

static const rec_value *typed(const rec_record *r, int field, rec_type t, int rank) {
  if (field < 0 || field >= r->schema->nfields) return NULL;
  const rec_field *f = &r->schema->fields[field];
  if (f->type != t || (rank >= 0 && f->rank != rank)) return NULL;
  return &r->v[field];
}

const char *rec_str(const rec_record *r, int field, size_t *len) {
  const rec_value *v = typed(r, field, REC_STR, -1);
  if (len) *len = v ? v->count : 0;
  return v ? v->data : NULL;
}
const uint32_t *rec_u32(const rec_record *r, int field, size_t *count) {
  const rec_value *v = typed(r, field, REC_U32, -1);
  if (count) *count = v ? v->count : 0;
  return v ? v->data : NULL;
}
const float *rec_f32(const rec_record *r, int field, size_t *count) {
  const rec_value *v = typed(r, field, REC_F32, -1);
  if (count) *count = v ? v->count : 0;
  return v ? v->data : NULL;
}
double rec_f64_scalar(const rec_record *r, int field) {
  const rec_value *v = typed(r, field, REC_F64, 0);
  double x = NAN;
  if (v && v->data) memcpy(&x, v->data, 8);
  return x;
}
uint32_t rec_u32_scalar(const rec_record *r, int field) {
  const rec_value *v = typed(r, field, REC_U32, 0);
  uint32_t x = 0;
  if (v && v->data) memcpy(&x, v->data, 4);
  return x;
}

int rec_size_check(const rec_reader *r, const rec_record *rec, const char *what, const uint64_t *factors, int nfactors,
                   size_t esize, uint64_t limit, char *err, size_t errlen) {
  if (limit == 0) limit = REC_MAX_FRAME;
  uint64_t bytes = esize;
  bool over = false;
  for (int i = 0; i < nfactors; i++) {
    if (factors[i] == 0) return 0;
    if (bytes > UINT64_MAX / factors[i]) over = true; /* past 2^64: certainly over any limit */
    else bytes *= factors[i];
  }
  if (!over && bytes <= limit) return 0;
  char shape[200];
  size_t n = 0;
  shape[0] = 0;
  for (int i = 0; i < nfactors && n < sizeof shape; i++) {
    int k = snprintf(shape + n, sizeof shape - n, "%" PRIu64 " x ", factors[i]);
    if (k < 0) break;
    n += (size_t)k;
  }
  char total[48] = "";
  if (!over) snprintf(total, sizeof total, " = %" PRIu64 " bytes", bytes);
  return set_err(err, errlen,
                 "%s: record %" PRIu64 " (byte %" PRIu64 "): %s of %s%zu bytes%s is more than the limit of %" PRIu64
                 " bytes",
                 r->name, rec->index, rec->offset, what, shape, esize, total, limit);
}

rec_reader *rec_open_expect_path(const char *path, const char *const *records, char *err, size_t errlen) {
  rec_reader *r = rec_open_path(path, err, errlen);
  if (!r) return NULL;
  char why[512];
  if (rec_schema_expect(r->schema, records, why, sizeof why) != 0) {
    set_err(err, errlen, "%s: %s", r->name, why);
    rec_close(r);
    return NULL;
  }
  return r;
}

/* ================================================================ writer */

struct rec_writer {
  struct rec_writer *next_open; /* list of writers with a temporary file */
  char *name, *path, *tmp;
  int fd;
  bool own_fd, started, failed, allow_nonfinite;
  rec_schema *schema;
  rec_value pend[REC_MAX_FIELDS];
  uint64_t scal[REC_MAX_FIELDS]; /* storage behind scalar puts */
  char pend_err[512];          /* a misuse of rec_put*, reported by the next rec_write */
  rec_schema *scratch;         /* what rec_writer_schema hands out once the schema is written */
  int errnum;                  /* errno of a failed write (EPIPE: the reader went away) */
  uint64_t copy_serial;        /* the reader whose layout was compared last (0: none) */
  bool copy_ok;                /* ... and whether its frames can be copied verbatim */
  buf_t out;
  ZSTD_CCtx *cctx;
  uint8_t *zbuf;
  size_t zcap;
  uint64_t count, off;
  char err[1024];
};

static void track_writer(rec_writer *w);
static int wfail(rec_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int wfail(rec_writer *w, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(w->err, sizeof w->err, "%s: %s", w->name, msg);
  return -1;
}

static int epipe_seen; /* some stream's reader went away (rec_epipe) */
int rec_epipe(void) { return epipe_seen; }

static int write_all(rec_writer *w, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = write(w->fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      /* EPIPE too: the reader stopped; the program decides what that means
       * (cli's wrappers end quietly, status 0) */
      w->failed = true;
      w->errnum = errno;
      if (errno == EPIPE) epipe_seen = 1;
      return wfail(w, "write error: %s", strerror(errno));
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* write_all for a header, a payload and its padding without copying them. */
static int writev_all(rec_writer *w, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t k = writev(w->fd, iov, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      w->failed = true;
      w->errnum = errno;
      if (errno == EPIPE) epipe_seen = 1;
      return wfail(w, "write error: %s", strerror(errno));
    }
    while (n > 0 && (size_t)k >= iov->iov_len) {
      k -= (ssize_t)iov->iov_len;
      iov++, n--;
    }
    if (n > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + k;
      iov->iov_len -= (size_t)k;
    }
  }
  return 0;
}

static int flush_out(rec_writer *w, bool end) {
  if (!w->cctx) {
    int rc = write_all(w, w->out.p, w->out.len);
    w->out.len = 0;
    return rc;
  }
  ZSTD_inBuffer in = {w->out.p, w->out.len, 0};
  for (;;) {
    ZSTD_outBuffer o = {w->zbuf, w->zcap, 0};
    size_t ret = ZSTD_compressStream2(w->cctx, &o, &in, end ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(ret)) {
      w->failed = true;
      return wfail(w, "zstd compression failed: %s", ZSTD_getErrorName(ret));
    }
    if (o.pos && write_all(w, w->zbuf, o.pos) < 0) return -1;
    if (end ? ret == 0 : in.pos == in.size) break;
  }
  w->out.len = 0;
  return 0;
}

/* Append a frame: header, payload from b (len bytes, already in w->out after
 * the reserved header), zero padding. */
static void frame_begin(rec_writer *w, size_t *hdr_at) {
  buf_need(&w->out, HDR_LEN);
  *hdr_at = w->out.len;
  w->out.len += HDR_LEN;
}

static void frame_end(rec_writer *w, size_t hdr_at, uint32_t kind) {
  size_t len = w->out.len - hdr_at - HDR_LEN;
  uint8_t *h = w->out.p + hdr_at;
  wr32(h, kind);
  wr32(h + 4, (uint32_t)len);
  wr32(h + 8, crc32c(0, h + HDR_LEN, len));
  wr32(h + 12, crc32c(0, h, 12));
  size_t pad = pad8(len) - len;
  buf_need(&w->out, pad);
  memset(w->out.p + w->out.len, 0, pad);
  w->out.len += pad;
  w->off += HDR_LEN + pad8(len);
}

static void write_start(rec_writer *w) {
  buf_need(&w->out, 8);
  memcpy(w->out.p + w->out.len, REC_MAGIC "\0", 7);
  w->out.p[w->out.len + 7] = REC_VERSION_MAJOR;
  w->out.len += 8;
  w->off = 8;
  size_t at;
  frame_begin(w, &at);
  schema_encode(w->schema, &w->out);
  frame_end(w, at, KIND_SCHEMA);
  w->started = true;
  w->copy_serial = 0; /* the layout is fixed now: compare again */
}

/* Why the last rec_writer_fd/rec_writer_path returned NULL, or the last
 * rec_writer_close failed (the writer is gone by then): per thread. */
static _Thread_local char last_error[1024];
static _Thread_local int last_errnum;

static rec_writer *writer_new(int fd, const char *name, const rec_schema *s, const rec_write_opts *o) {
  const char *shown = !name || strcmp(name, "-") == 0 ? "stdout" : name;
  char err[300];
  if (rec_schema_validate(s, err, sizeof err) != 0) {
    snprintf(last_error, sizeof last_error, "%s: invalid schema: %s", shown, err);
    last_errnum = 0;
    return NULL;
  }
  int maxlevel = ZSTD_maxCLevel() < 19 ? ZSTD_maxCLevel() : 19;
  if (o && (o->zstd_level < 0 || o->zstd_level > maxlevel)) {
    snprintf(last_error, sizeof last_error, "%s: zstd level %d outside 0..%d", shown, o->zstd_level, maxlevel);
    last_errnum = 0;
    return NULL;
  }
  ZSTD_CCtx *cctx = NULL;
  if (o && o->zstd_level > 0 && !(cctx = ZSTD_createCCtx())) {
    snprintf(last_error, sizeof last_error, "%s: cannot create a zstd compression context", shown);
    last_errnum = ENOMEM;
    return NULL;
  }
  rec_writer *w = xcalloc(1, sizeof *w);
  w->name = xstrdup(shown);
  w->fd = fd;
  w->schema = rec_schema_copy(s);
  if (cctx) {
    w->cctx = cctx;
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, o->zstd_level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    w->zcap = ZSTD_CStreamOutSize();
    w->zbuf = xmalloc(w->zcap);
  }
  return w;
}

rec_writer *rec_writer_fd(int fd, const char *name, const rec_schema *s, const rec_write_opts *o) {
  return writer_new(fd, name, s, o);
}

static rec_writer *writer_path(const char *path, const rec_schema *s, const rec_write_opts *o, bool swept);

rec_writer *rec_writer_path(const char *path, const rec_schema *s, const rec_write_opts *o) {
  return writer_path(path, s, o, false);
}

rec_writer *rec_writer_path_swept(const char *path, const rec_schema *s, const rec_write_opts *o) {
  return writer_path(path, s, o, true);
}

static rec_writer *writer_path(const char *path, const rec_schema *s, const rec_write_opts *o, bool swept) {
  if (strcmp(path, "-") == 0) return writer_new(1, "-", s, o);
  size_t n = strlen(path);
  rec_write_opts opts = o ? *o : (rec_write_opts){0};
  if (n > 4 && strcmp(path + n - 4, ".zst") == 0 && opts.zstd_level <= 0) opts.zstd_level = 3;
  /* An existing path that is not a regular file (/dev/null, a FIFO) is
   * written as it is: a temporary renamed over it would replace the device. */
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    int dfd = S_ISDIR(st.st_mode) ? (errno = EISDIR, -1) : open(path, O_WRONLY | O_CLOEXEC);
    if (dfd < 0) {
      last_errnum = errno;
      snprintf(last_error, sizeof last_error, "cannot write to '%s': %s", path, strerror(errno));
      return NULL;
    }
    rec_writer *w = writer_new(dfd, path, s, &opts);
    if (!w) close(dfd);
    else w->own_fd = true;
    return w;
  }
  /* PATH.tmp.PID, locked while we write; stale ones of PATH (a run killed
   * by SIGKILL) are removed first (stream/tmpfile.h) */
  char *tmp = NULL;
  int fd = swept ? rec_tmp_create_only(path, &tmp) : rec_tmp_create(path, &tmp);
  if (fd < 0) {
    last_errnum = errno;
    snprintf(last_error, sizeof last_error, "cannot create '%s': %s", path, strerror(errno));
    return NULL;
  }
  rec_writer *w = writer_new(fd, path, s, &opts);
  if (!w) {
    close(fd);
    unlink(tmp);
    free(tmp);
    return NULL;
  }
  w->own_fd = true;
  w->path = xstrdup(path);
  w->tmp = tmp;
  track_writer(w);
  return w;
}

rec_schema *rec_writer_schema(rec_writer *w) {
  if (!w->started) return w->schema;
  /* Too late: the schema frame is out. Changes to a copy would be lost
   * silently, so the writer fails (the next rec_write or close says why). */
  if (!w->failed) {
    w->failed = true;
    wfail(w, "the schema cannot change after the first record");
  }
  if (!w->scratch) w->scratch = rec_schema_copy(w->schema);
  return w->scratch;
}
void rec_writer_allow_nonfinite(rec_writer *w, bool allow) { w->allow_nonfinite = allow; }
const char *rec_writer_error(const rec_writer *w) { return w ? w->err : last_error; }
int rec_writer_errno(const rec_writer *w) { return w ? w->errnum : last_errnum; }
uint64_t rec_writer_count(const rec_writer *w) { return w->count; }

/* A misuse of the put functions (a programming error) is kept and reported
 * by the next rec_write, which then writes nothing. */
static void put_misuse(rec_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_misuse(rec_writer *w, const char *fmt, ...) {
  if (w->pend_err[0]) return; /* the first one says most */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->pend_err, sizeof w->pend_err, fmt, ap);
  va_end(ap);
}

static const rec_field *put_field(rec_writer *w, int field, const char *fn) {
  if (field < 0 || field >= w->schema->nfields) {
    put_misuse(w, "%s: no field number %d in schema '%s'", fn, field, w->schema->record);
    return NULL;
  }
  return &w->schema->fields[field];
}

void rec_put_str(rec_writer *w, int field, const char *s, size_t len) {
  const rec_field *f = put_field(w, field, "rec_put_str");
  if (!f) return;
  if (f->type != REC_STR) {
    put_misuse(w, "rec_put_str: field '%s' is %s, not str", f->name, rec_type_name(f->type));
    return;
  }
  w->pend[field].data = s ? s : (len ? NULL : "");
  w->pend[field].count = len;
}

void rec_put(rec_writer *w, int field, const void *data, const uint32_t *shape) {
  const rec_field *f = put_field(w, field, "rec_put");
  if (!f) return;
  rec_value *v = &w->pend[field];
  if (f->type == REC_STR) {
    rec_put_str(w, field, data, data ? strlen(data) : 0);
    return;
  }
  memset(v, 0, sizeof *v);
  v->data = data;
  v->count = 1;
  for (int a = 0; a < f->rank; a++) {
    v->shape[a] = shape[a];
    v->count *= shape[a];
  }
}

void rec_put_u32_scalar(rec_writer *w, int field, uint32_t x) {
  const rec_field *f = put_field(w, field, "rec_put_u32_scalar");
  if (!f) return;
  if (f->type != REC_U32 || f->rank) {
    put_misuse(w, "rec_put_u32_scalar: field '%s' is not a u32 scalar", f->name);
    return;
  }
  memcpy(&w->scal[field], &x, 4);
  rec_put(w, field, &w->scal[field], NULL);
}

void rec_put_f64_scalar(rec_writer *w, int field, double x) {
  const rec_field *f = put_field(w, field, "rec_put_f64_scalar");
  if (!f) return;
  if (f->type != REC_F64 || f->rank) {
    put_misuse(w, "rec_put_f64_scalar: field '%s' is not an f64 scalar", f->name);
    return;
  }
  memcpy(&w->scal[field], &x, 8);
  rec_put(w, field, &w->scal[field], NULL);
}

void rec_put_from(rec_writer *w, const rec_record *in) {
  for (int i = 0; i < in->schema->nfields; i++) {
    if (!in->v[i].data) continue;
    const rec_field *fi = &in->schema->fields[i];
    int j = rec_field_index(w->schema, fi->name);
    if (j < 0 || w->schema->fields[j].type != fi->type || w->schema->fields[j].rank != fi->rank) continue;
    if (fi->type == REC_STR) rec_put_str(w, j, in->v[i].data, in->v[i].count);
    else rec_put(w, j, in->v[i].data, in->v[i].shape);
  }
}

static void clear_pending(rec_writer *w) {
  memset(w->pend, 0, sizeof w->pend);
  w->pend_err[0] = 0;
}

/* Check the pending record against the schema and fix UNSET stream dims from
 * the first record. Returns -1 with the message set. */
static int check_pending(rec_writer *w, int64_t *dimval) {
  rec_schema *s = w->schema;
  int owner[REC_MAX_DIMS];
  for (int d = 0; d < s->ndims; d++) {
    dimval[d] = s->dims[d].fixed;
    owner[d] = -1;
  }
  for (int i = 0; i < s->nfields; i++) {
    const rec_field *f = &s->fields[i];
    const rec_value *v = &w->pend[i];
    if (!v->data) {
      if (!f->optional) return wfail(w, "record %" PRIu64 ": required field '%s' is missing", w->count, f->name);
      continue;
    }
    if (f->type == REC_STR) {
      if (v->count > REC_MAX_FRAME)
        return wfail(w, "record %" PRIu64 ": field '%s': string too long", w->count, f->name);
      const char *nul = memchr(v->data, 0, v->count);
      if (nul)
        return wfail(w, "record %" PRIu64 ": field '%s': NUL byte at string offset %zu", w->count, f->name,
                     (size_t)(nul - (const char *)v->data));
      size_t bad = utf8_check(v->data, v->count);
      if (bad != v->count)
        return wfail(w, "record %" PRIu64 ": field '%s': invalid UTF-8 at string offset %zu", w->count, f->name, bad);
      continue;
    }
    for (int a = 0; a < f->rank; a++) {
      int d = f->dim[a];
      int64_t want = dimval[d];
      if (want == REC_DIM_UNSET) {
        if (w->started)
          return wfail(w,
                       "record %" PRIu64 ": field '%s': stream dimension '%s' was not known when the first record "
                       "was written (set it with rec_set_dim or a first record that has the field)",
                       w->count, f->name, s->dims[d].name);
        dimval[d] = v->shape[a];
        owner[d] = i;
      } else if (s->dims[d].fixed == REC_DIM_PER_RECORD && owner[d] < 0) {
        dimval[d] = v->shape[a];
        owner[d] = i;
      } else if (v->shape[a] != want) {
        if (owner[d] >= 0)
          return wfail(w, "record %" PRIu64 ": field '%s' has %s = %" PRIu32 " but field '%s' has %s = %" PRId64,
                       w->count, f->name, s->dims[d].name, v->shape[a], s->fields[owner[d]].name, s->dims[d].name,
                       want);
        return wfail(w, "record %" PRIu64 ": field '%s' has %s = %" PRIu32 " but the stream fixes %s = %" PRId64,
                     w->count, f->name, s->dims[d].name, v->shape[a], s->dims[d].name, want);
      }
    }
    size_t bad;
    if (!w->allow_nonfinite && f->type == REC_F32 && !all_finite_f32(v->data, v->count, &bad))
      return wfail(w, "record %" PRIu64 ": field '%s': %s at element %zu (finite numbers required)", w->count,
                   f->name, isnan(((const float *)v->data)[bad]) ? "NaN" : "Inf", bad);
    if (!w->allow_nonfinite && f->type == REC_F64 && !all_finite_f64(v->data, v->count, &bad))
      return wfail(w, "record %" PRIu64 ": field '%s': %s at element %zu (finite numbers required)", w->count,
                   f->name, isnan(((const double *)v->data)[bad]) ? "NaN" : "Inf", bad);
  }
  return 0;
}

int rec_write(rec_writer *w) {
  if (w->failed) {
    clear_pending(w);
    return -1;
  }
  rec_schema *s = w->schema;
  int64_t dimval[REC_MAX_DIMS];
  if (w->pend_err[0]) {
    wfail(w, "record %" PRIu64 ": %s", w->count, w->pend_err);
    clear_pending(w);
    return -1;
  }
  if (check_pending(w, dimval) < 0) {
    clear_pending(w);
    return -1;
  }
  if (!w->started) {
    for (int d = 0; d < s->ndims; d++)
      if (s->dims[d].fixed == REC_DIM_UNSET && dimval[d] >= 0) s->dims[d].fixed = dimval[d];
    write_start(w);
  }
  /* size first, so the frame is built in one place without reallocation */
  size_t size = 8, nrd = 0;
  for (int d = 0; d < s->ndims; d++) nrd += s->dims[d].fixed == REC_DIM_PER_RECORD;
  size += pad8(4 * nrd);
  for (int i = 0; i < s->nfields; i++) {
    const rec_value *v = &w->pend[i];
    if (!v->data) continue;
    if (s->fields[i].type == REC_STR) size += pad8(4 + v->count + 1);
    else {
      size_t esize = rec_type_size(s->fields[i].type);
      if (v->count > REC_MAX_FRAME / esize) {
        clear_pending(w);
        return wfail(w, "record %" PRIu64 ": field '%s' is larger than the frame limit", w->count, s->fields[i].name);
      }
      size += pad8(v->count * esize);
    }
    if (size > REC_MAX_FRAME) {
      clear_pending(w);
      return wfail(w, "record %" PRIu64 ": record is larger than the frame limit of %u bytes", w->count,
                   REC_MAX_FRAME);
    }
  }
  size_t at;
  frame_begin(w, &at);
  buf_need(&w->out, size);
  uint8_t *p = w->out.p + w->out.len;
  memset(p, 0, size);
  uint64_t present = 0;
  for (int i = 0; i < s->nfields; i++)
    if (w->pend[i].data) present |= 1ULL << i;
  wr64(p, present);
  uint8_t *q = p + 8;
  for (int d = 0; d < s->ndims; d++)
    if (s->dims[d].fixed == REC_DIM_PER_RECORD) {
      wr32(q, dimval[d] < 0 ? 0 : (uint32_t)dimval[d]);
      q += 4;
    }
  q = p + 8 + pad8(4 * nrd);
  for (int i = 0; i < s->nfields; i++) {
    const rec_value *v = &w->pend[i];
    if (!v->data) continue;
    if (s->fields[i].type == REC_STR) {
      wr32(q, (uint32_t)v->count);
      memcpy(q + 4, v->data, v->count);
      q += pad8(4 + v->count + 1);
    } else {
      size_t n = v->count * rec_type_size(s->fields[i].type);
      memcpy(q, v->data, n);
      q += pad8(n);
    }
  }
  w->out.len += size;
  frame_end(w, at, KIND_RECORD);
  w->count++;
  clear_pending(w);
  if (w->out.len >= FLUSH_LEN) return flush_out(w, false);
  return 0;
}

/* ---- verbatim copies of validated frames ---- */

#define DIRECT_LEN (1u << 16) /* frames this large go out with writev, not through the buffer */

int rec_write_frame(rec_writer *w, const void *payload, uint32_t len, uint32_t crc) {
  if (w->failed) return -1;
  if (!w->started) write_start(w);
  uint8_t h[HDR_LEN];
  wr32(h, KIND_RECORD);
  wr32(h + 4, len);
  wr32(h + 8, crc);
  wr32(h + 12, crc32c(0, h, 12));
  size_t padded = pad8(len);
  if (!w->cctx && padded >= DIRECT_LEN) {
    static const uint8_t zeros[8];
    if (w->out.len && flush_out(w, false) < 0) return -1;
    struct iovec iov[3] = {{h, HDR_LEN}, {(void *)payload, len}, {(void *)zeros, padded - len}};
    if (writev_all(w, iov, 3) < 0) return -1;
  } else {
    buf_need(&w->out, HDR_LEN + padded);
    uint8_t *o = w->out.p + w->out.len;
    memcpy(o, h, HDR_LEN);
    memcpy(o + HDR_LEN, payload, len);
    memset(o + HDR_LEN + len, 0, padded - len);
    w->out.len += HDR_LEN + padded;
  }
  w->off += HDR_LEN + padded;
  w->count++;
  if (w->out.len >= FLUSH_LEN) return flush_out(w, false);
  return 0;
}

bool rec_writer_can_copy(rec_writer *w, const rec_reader *r) {
  if (!w->allow_nonfinite && !rec_reader_finite_checked(r)) return false;
  if (w->copy_serial != r->serial) {
    w->copy_serial = r->serial;
    w->copy_ok = rec_layout_equal(w->schema, r->schema);
  }
  return w->copy_ok;
}

int rec_copy_record(rec_writer *w, const rec_reader *r, const rec_record *rec) {
  if (w->failed) {
    clear_pending(w);
    return -1;
  }
  bool pending = w->pend_err[0] != 0;
  for (int i = 0; i < w->schema->nfields && !pending; i++) pending = w->pend[i].data != NULL;
  /* Verbatim when the frame means the same under both layouts, nothing else
   * was put for this record, and the reader checked what the writer would
   * (finite floats); the reader validated the frame (CRCs, layout, UTF-8). */
  const void *p = NULL;
  uint32_t len = 0, crc = 0;
  if (!pending && rec_writer_can_copy(w, r)) p = rec_reader_frame(r, rec, &len, &crc);
  if (p) return rec_write_frame(w, p, len, crc);
  rec_put_from(w, rec);
  return rec_write(w);
}

/* Temporary files of writers not yet closed are removed at exit, so a
 * program that dies mid-stream (die() calls exit) leaves no partial file. */
static rec_writer *open_writers;
static pthread_mutex_t open_writers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

static void remove_temporaries(void) {
  pthread_mutex_lock(&open_writers_lock);
  for (rec_writer *w = open_writers; w; w = w->next_open)
    if (w->tmp) unlink(w->tmp);
  pthread_mutex_unlock(&open_writers_lock);
}
static void register_atexit(void) { atexit(remove_temporaries); }

static void track_writer(rec_writer *w) {
  pthread_once(&atexit_once, register_atexit);
  pthread_mutex_lock(&open_writers_lock);
  w->next_open = open_writers;
  open_writers = w;
  pthread_mutex_unlock(&open_writers_lock);
}

static void untrack_writer(rec_writer *w) {
  pthread_mutex_lock(&open_writers_lock);
  for (rec_writer **p = &open_writers; *p; p = &(*p)->next_open)
    if (*p == w) {
      *p = w->next_open;
      break;
    }
  pthread_mutex_unlock(&open_writers_lock);
}

static void writer_free(rec_writer *w) {
  if (w->tmp) untrack_writer(w);
  ZSTD_freeCCtx(w->cctx);
  free(w->zbuf);
  free(w->out.p);
  free(w->name);
  free(w->path);
  free(w->tmp);
  rec_schema_free(w->schema);
  rec_schema_free(w->scratch);
  free(w);
}

int rec_writer_close(rec_writer *w) {
  int rc = 0;
  if (!w->failed) {
    if (!w->started) write_start(w);
    size_t at;
    frame_begin(w, &at);
    buf_need(&w->out, 8);
    wr64(w->out.p + w->out.len, w->count);
    w->out.len += 8;
    frame_end(w, at, KIND_END);
    rc = flush_out(w, true);
  } else
    rc = -1;
  if (w->own_fd) {
    if (rc == 0 && w->path && fsync(w->fd) != 0 && errno != EINVAL) {
      w->errnum = errno;
      rc = wfail(w, "fsync: %s", strerror(errno));
    }
    if (close(w->fd) != 0 && rc == 0) {
      w->errnum = errno;
      rc = wfail(w, "close: %s", strerror(errno));
    }
    if (w->tmp) {
      if (rc == 0 && rename(w->tmp, w->path) != 0) {
        w->errnum = errno;
        rc = wfail(w, "cannot rename to '%s': %s", w->path, strerror(errno));
      }
      if (rc != 0) unlink(w->tmp);
    }
  }
  if (rc != 0) {
    snprintf(last_error, sizeof last_error, "%s", w->err);
    last_errnum = w->errnum;
  }
  writer_free(w);
  return rc;
}

void rec_writer_abort(rec_writer *w) {
  if (!w) return;
  if (w->own_fd) {
    close(w->fd);
    if (w->tmp) unlink(w->tmp);
  }
  writer_free(w);
}
