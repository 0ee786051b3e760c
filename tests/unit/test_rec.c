/* test_rec: the record stream: CRC-32C, UTF-8, schemas, round-trips of every
 * built-in record type (plain, zstd, in place from memory), and each kind of
 * corruption detected with a message that says what and where. */
#include "check.h"
#include "stream/rec.h"
#include "stream/tmpfile.h"
#include "stream/rec_json.h"
#include "stream/rec_ops.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test_rec.XXXXXX";

static char *tmp_path(const char *name) {
  static char buf[8][512];
  static int k;
  char *p = buf[k++ & 7];
  snprintf(p, 512, "%s/%s", tmpdir, name);
  return p;
}

/* Whole file into an 8-byte aligned buffer. */
static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 8); /* malloc alignment (16) suffices for in-place reading */
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Offset of frame number k (0 = schema frame). */
static size_t frame_at(const uint8_t *b, size_t len, int k) {
  size_t off = 8;
  for (int i = 0; i < k && off + 16 <= len; i++) off += 16 + pad8(rd32(b + off + 4));
  return off;
}

/* Recompute both CRCs of the frame at off (after a deliberate edit). */
static void fix_crc(uint8_t *b, size_t off) {
  wr32(b + off + 8, crc32c(0, b + off + 16, rd32(b + off + 4)));
  wr32(b + off + 12, crc32c(0, b + off, 12));
}
static void fix_header_crc(uint8_t *b, size_t off) { wr32(b + off + 12, crc32c(0, b + off, 12)); }

/* Read all of a stream; return the error message (or "" if clean) in a static buffer. */
static const char *read_all_err(const uint8_t *b, size_t len, uint64_t *nrec) {
  static char msg[1024];
  char err[1024];
  rec_reader *r = rec_open_mem(b, len, "t.rec", err, sizeof err);
  if (!r) {
    snprintf(msg, sizeof msg, "%s", err);
    return msg;
  }
  rec_record rec;
  int rc;
  uint64_t n = 0;
  while ((rc = rec_read(r, &rec)) == 0) n++;
  snprintf(msg, sizeof msg, "%s", rc < 0 ? rec_error(r) : "");
  if (nrec) *nrec = n;
  rec_close(r);
  return msg;
}

/* ---- generic random records for any schema ---- */

typedef struct {
  int present[REC_MAX_FIELDS];
  uint32_t shape[REC_MAX_FIELDS][REC_MAX_RANK];
  void *data[REC_MAX_FIELDS];
  size_t count[REC_MAX_FIELDS];
} gen_rec;

static void gen_fill(rec_schema *s, rng_t *g, gen_rec *gr, int idx) {
  uint32_t dimv[REC_MAX_DIMS];
  for (int d = 0; d < s->ndims; d++)
    dimv[d] = s->dims[d].fixed >= 0 ? (uint32_t)s->dims[d].fixed : (uint32_t)rng_below(g, 7); /* 0..6, 0 included */
  for (int i = 0; i < s->nfields; i++) {
    rec_field *f = &s->fields[i];
    gr->present[i] = !f->optional || rng_below(g, 2) || idx == 0;
    gr->data[i] = NULL;
    if (!gr->present[i]) continue;
    if (f->type == REC_STR) {
      static const char *pool[] = {"", "a", "hello world", "Grüße, 世界 🌍", "tab\there \"quoted\" \\ back",
                                   "exactly4", "seven77"};
      const char *src = pool[rng_below(g, 7)];
      char *t = malloc(strlen(src) + 16);
      sprintf(t, "%s#%d", src, idx);
      gr->data[i] = t;
      gr->count[i] = strlen(t);
      continue;
    }
    size_t n = 1;
    for (int a = 0; a < f->rank; a++) {
      gr->shape[i][a] = dimv[f->dim[a]];
      n *= dimv[f->dim[a]];
    }
    gr->count[i] = n;
    size_t es = rec_type_size(f->type);
    uint8_t *d = malloc(n * es + 8);
    for (size_t k = 0; k < n; k++) {
      if (f->type == REC_F32) {
        float x = (float)(rng_normal(g) * 1e3);
        memcpy(d + k * 4, &x, 4);
      } else if (f->type == REC_F64) {
        double x = rng_normal(g) / 3.0;
        memcpy(d + k * 8, &x, 8);
      } else {
        uint64_t x = rng_next(g);
        memcpy(d + k * es, &x, es);
      }
    }
    gr->data[i] = d;
  }
}

static void gen_free(rec_schema *s, gen_rec *gr) {
  for (int i = 0; i < s->nfields; i++) free(gr->data[i]);
}

static void gen_put(rec_writer *w, rec_schema *s, gen_rec *gr) {
  for (int i = 0; i < s->nfields; i++) {
    if (!gr->present[i]) continue;
    if (s->fields[i].type == REC_STR) rec_put_str(w, i, gr->data[i], gr->count[i]);
    else rec_put(w, i, gr->data[i], gr->shape[i]);
  }
}

static int gen_equal(const rec_schema *s, const gen_rec *gr, const rec_record *r) {
  for (int i = 0; i < s->nfields; i++) {
    if (gr->present[i] != rec_has(r, i)) return 0;
    if (!gr->present[i]) continue;
    if (r->v[i].count != gr->count[i]) return 0;
    size_t bytes = s->fields[i].type == REC_STR ? gr->count[i] : gr->count[i] * rec_type_size(s->fields[i].type);
    if (memcmp(r->v[i].data, gr->data[i], bytes) != 0) return 0;
    if (s->fields[i].type == REC_STR && ((const char *)r->v[i].data)[gr->count[i]] != 0) return 0; /* NUL-terminated */
    for (int a = 0; a < s->fields[i].rank; a++)
      if (r->v[i].shape[a] != gr->shape[i][a]) return 0;
    if (s->fields[i].type != REC_STR && ((uintptr_t)r->v[i].data & 7)) return 0; /* aligned */
  }
  return 1;
}

#define NREC 40

/* Write NREC random records of schema `name` to path, then read back through
 * the fd reader and the memory reader; check every field. */
static void roundtrip(const char *name, const char *file, int zstd) {
  rec_schema *s = rec_schema_builtin(name);
  CHECK(s != NULL, "builtin schema %s", name);
  if (!s) return;
  for (int d = 0; d < s->ndims; d++)
    if (s->dims[d].fixed == REC_DIM_UNSET) s->dims[d].fixed = 5; /* stream dims fixed up front */
  rec_write_opts o = {zstd};
  int comp = zstd > 0 || strstr(file, ".zst") != NULL;
  const char *path = tmp_path(file);
  rec_writer *w = rec_writer_path(path, s, &o);
  rec_meta_set(rec_writer_schema(w), "producer", "test_rec");
  rng_t g;
  rng_seed(&g, 42);
  int ok = 1;
  for (int k = 0; k < NREC; k++) {
    gen_rec gr;
    gen_fill(s, &g, &gr, k);
    gen_put(w, s, &gr);
    if (rec_write(w) != 0) {
      ok = 0;
      printf("# write: %s\n", rec_writer_error(w));
    }
    gen_free(s, &gr);
  }
  CHECK(ok && rec_writer_close(w) == 0, "%s%s: wrote %d records", name, zstd ? " (zstd)" : "", NREC);
  for (int mode = 0; mode < 2; mode++) {
    char err[1024];
    size_t len = 0;
    uint8_t *buf = mode ? slurp(path, &len) : NULL;
    rec_reader *r = mode ? rec_open_mem(buf, len, file, err, sizeof err) : rec_open_path(path, err, sizeof err);
    CHECK(r != NULL, "%s: open (%s) %s", file, mode ? "mem" : "fd", r ? "" : err);
    if (!r) continue;
    CHECK(strcmp(rec_reader_schema(r)->record, name) == 0, "%s: record type", file);
    CHECK(rec_meta_get(rec_reader_schema(r), "producer") && !strcmp(rec_meta_get(rec_reader_schema(r), "producer"), "test_rec"),
          "%s: metadata survives", file);
    CHECK(rec_reader_compressed(r) == comp, "%s: compressed flag", file);
    rng_seed(&g, 42);
    int same = 1, inplace = 1, n = 0, rc;
    rec_record rec;
    while ((rc = rec_read(r, &rec)) == 0) {
      gen_rec gr;
      gen_fill(s, &g, &gr, n);
      if (!gen_equal(s, &gr, &rec)) same = 0;
      for (int i = 0; i < s->nfields; i++)
        if (rec.v[i].data && mode && !comp &&
            !((const uint8_t *)rec.v[i].data >= buf && (const uint8_t *)rec.v[i].data < buf + len))
          inplace = 0;
      gen_free(s, &gr);
      n++;
    }
    CHECK(rc == 1 && n == NREC && same, "%s (%s): %d records read back identical %s", file, mode ? "mem" : "fd", n,
          rc < 0 ? rec_error(r) : "");
    if (mode && !comp) CHECK(inplace, "%s: records point into the memory buffer (in place)", file);
    rec_close(r);
    free(buf);
  }
  rec_schema_free(s);
}

/* A small text stream in memory for the corruption tests. */
static uint8_t *text_stream(size_t *len, int nrec) {
  rec_schema *s = rec_schema_builtin("text");
  const char *path = tmp_path("small.rec");
  rec_writer *w = rec_writer_path(path, s, NULL);
  for (int k = 0; k < nrec; k++) {
    char id[32];
    snprintf(id, sizeof id, "doc%d", k);
    rec_put_str(w, 0, id, strlen(id));
    rec_put_str(w, 2, "some text here", 14);
    rec_write(w);
  }
  rec_writer_close(w);
  rec_schema_free(s);
  return slurp(path, len);
}

static uint8_t *vec_stream(size_t *len) {
  rec_schema *s = rec_schema_builtin("vectors");
  rec_set_dim(s, "d", 4);
  const char *path = tmp_path("vec.rec");
  rec_writer *w = rec_writer_path(path, s, NULL);
  for (int k = 0; k < 3; k++) {
    uint32_t ids[2] = {101, 102};
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint32_t sh1[1] = {2}, sh2[2] = {2, 4};
    rec_put_str(w, rec_field_index(s, "id"), "x", 1);
    rec_put(w, rec_field_index(s, "ids"), ids, sh1);
    rec_put(w, rec_field_index(s, "vecs"), v, sh2);
    rec_write(w);
  }
  rec_writer_close(w);
  rec_schema_free(s);
  return slurp(path, len);
}

static void corruption_tests(void) {
  size_t len;
  uint8_t *orig = text_stream(&len, 3), *b = malloc(2 * len + 64);
  const char *e;
  uint64_t n;
  memcpy(b, orig, len);
  e = read_all_err(b, len, &n);
  CHECK(!*e && n == 3, "clean stream reads: %s", e);

#define EXPECT(buf, blen, sub, what)                                                   \
  do {                                                                                 \
    const char *m_ = read_all_err(buf, blen, NULL);                                    \
    CHECK(strstr(m_, sub) != NULL, "%s -> \"%s\"", what, m_);                          \
  } while (0)

  size_t f1 = frame_at(orig, len, 1), f2 = frame_at(orig, len, 2), fend = frame_at(orig, len, 4);
  memcpy(b, orig, len);
  b[f2 + 16 + 9] ^= 0x20;
  EXPECT(b, len, "record 1 (byte ", "payload flip names the record");
  EXPECT(b, len, "payload CRC-32C mismatch", "payload flip");
  memcpy(b, orig, len);
  b[f1 + 5] ^= 1;
  EXPECT(b, len, "frame header CRC-32C mismatch", "length flip caught by the header CRC");
  memcpy(b, orig, len);
  wr32(b + f1 + 4, (1u << 30) + 8);
  fix_header_crc(b, f1);
  EXPECT(b, len, "exceeds the limit", "oversized length");
  char where[64];
  snprintf(where, sizeof where, "t.rec: record 0 (byte %zu)", f1);
  EXPECT(b, len, where, "oversized length names file, record and byte");
  EXPECT(orig, f2 + 20, "truncated stream: input ends inside a record frame", "truncated payload");
  EXPECT(orig, f2 + 5, "inside a frame header", "truncated header");
  EXPECT(orig, fend, "without an end frame", "missing end frame");
  EXPECT(orig, 4, "truncated stream", "truncated file header");
  EXPECT(orig, 0, "empty input", "empty input");
  memcpy(b, orig, len);
  memcpy(b + len, "garbage!", 8);
  EXPECT(b, len + 8, "trailing data after the end frame", "trailing garbage");
  memcpy(b, orig, len);
  b[fend + 16] = 7;
  fix_crc(b, fend);
  EXPECT(b, len, "end frame counts 7 records but 3 were read", "count mismatch");
  memcpy(b, orig, len);
  b[7] = 2;
  EXPECT(b, len, "unsupported stream format version 2 (this reader knows version 1)", "unknown version");
  EXPECT((const uint8_t *)"{\"id\": \"x\"}\n", 12, "looks like JSON", "JSON text hint");
  EXPECT((const uint8_t *)"q1\ten\thello\n", 12, "looks like text", "TSV text hint");
  const uint8_t zjunk[] = {0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT(zjunk, sizeof zjunk, "zstd", "zstd magic with bad data");
  {
    /* a cut zstd stream names where it stops (it said "byte 0" whatever the place) */
    size_t zlen;
    uint8_t *z = slurp(tmp_path("vectors.rec.zst"), &zlen);
    EXPECT(z, 30, "t.rec: compressed byte 30: truncated zstd stream: the input ends inside a zstd frame (0 bytes decompressed before it)",
           "zstd cut before its first block");
    char want[160];
    snprintf(want, sizeof want, "inside a zstd frame at compressed byte %zu (decompressed byte ", zlen - 4);
    EXPECT(z, zlen - 4, want, "zstd cut in its checksum");
    free(z);
  }
  /* invalid UTF-8: "some text here" -> 0xFF at its first byte */
  memcpy(b, orig, len);
  uint8_t *t = memmem(b + f1, f2 - f1, "some text", 9);
  t[0] = 0xFF;
  fix_crc(b, f1);
  EXPECT(b, len, "field 'text': invalid UTF-8 at string offset 0", "invalid UTF-8");
  memcpy(b, orig, len);
  t = memmem(b + f1, f2 - f1, "some text", 9);
  t[3] = 0;
  fix_crc(b, f1);
  EXPECT(b, len, "NUL byte", "NUL in a string");
  memcpy(b, orig, len);
  memcpy(b + f1 + 16, "\x04", 1); /* presence bitmap: drop id (bit 0), keep text (bit 2) -> layout mismatch */
  fix_crc(b, f1);
  EXPECT(b, len, "required field 'id' is missing", "required field missing");
  memcpy(b, orig, len);
  b[f1 + 16] |= 0x40;
  fix_crc(b, f1);
  EXPECT(b, len, "presence bitmap", "bitmap beyond fields");
  /* a second schema frame = concatenated streams */
  memcpy(b, orig, len);
  memcpy(b + fend, orig + 8, f1 - 8);
  EXPECT(b, fend + (f1 - 8), "second schema frame", "concatenation");
  free(b);
  free(orig);

  uint8_t *v = vec_stream(&len);
  e = read_all_err(v, len, &n);
  CHECK(!*e && n == 3, "vectors stream reads: %s", e);
  size_t r1 = frame_at(v, len, 2);
  float nan = NAN, inf = INFINITY;
  uint8_t *fl = v + r1 + 16 + 8 + 8 + 8 + 8; /* bitmap, n, id, ids[2] -> vecs */
  float one;
  memcpy(&one, fl, 4);
  CHECK(one == 1.0f, "located vecs[0] in the frame (%g)", one);
  memcpy(fl + 8, &nan, 4);
  fix_crc(v, r1);
  EXPECT(v, len, "record 1 (byte", "NaN names the record");
  EXPECT(v, len, "field 'vecs': NaN at element 2", "NaN");
  memcpy(fl + 8, &inf, 4);
  fix_crc(v, r1);
  EXPECT(v, len, "field 'vecs': Inf at element 2", "Inf");
  {
    char err[512];
    rec_reader *r = rec_open_mem(v, len, "v", err, sizeof err);
    rec_reader_allow_nonfinite(r, true);
    rec_record rec;
    int rc, k = 0;
    while ((rc = rec_read(r, &rec)) == 0) k++;
    CHECK(rc == 1 && k == 3, "Inf accepted when non-finite values are allowed");
    rec_close(r);
  }
  /* misaligned memory: still readable (copied, not in place) */
  uint8_t *mis = malloc(len + 1);
  memcpy(mis + 1, v, len);
  memcpy(fl + 8, &one, 4);
  fix_crc(v, r1);
  memcpy(mis + 1, v, len);
  e = read_all_err(mis + 1, len, &n);
  CHECK(!*e && n == 3, "misaligned buffer read by copy: %s", e);
  free(mis);
  free(v);
}

static void writer_error_tests(void) {
  rec_schema *s = rec_schema_builtin("pair");
  rec_set_dim(s, "d", 3);
  rec_writer *w = rec_writer_path(tmp_path("pair_abort.rec"), s, NULL);
  int id = rec_field_index(s, "id"), sl = rec_field_index(s, "src_lang"), tl = rec_field_index(s, "tgt_lang");
  int si = rec_field_index(s, "src_ids"), ti = rec_field_index(s, "tgt_ids"), sv = rec_field_index(s, "src_vecs");
  uint32_t ids[4] = {1, 2, 3, 4}, n3[1] = {3}, n2[1] = {2}, sh[2] = {2, 3}, shd[2] = {3, 4};
  float vec[12] = {0};
  rec_put_str(w, id, "p1", 2);
  rec_put_str(w, sl, "de", 2);
  rec_put_str(w, tl, "en", 2);
  rec_put(w, si, ids, n3);
  rec_put(w, ti, ids, n2);
  rec_put(w, sv, vec, sh); /* n = 2 but src_ids set n = 3 */
  CHECK(rec_write(w) < 0 && strstr(rec_writer_error(w), "field 'src_vecs' has n = 2 but field 'src_ids' has n = 3"),
        "per-record dim mismatch: %s", rec_writer_error(w));
  rec_put_str(w, id, "p1", 2);
  rec_put_str(w, sl, "de", 2);
  rec_put_str(w, tl, "en", 2);
  rec_put(w, si, ids, n3);
  rec_put(w, ti, ids, n2);
  rec_put(w, sv, vec, shd);
  CHECK(rec_write(w) < 0 && strstr(rec_writer_error(w), "the stream fixes d = 3"), "fixed dim mismatch: %s",
        rec_writer_error(w));
  rec_put_str(w, id, "p1", 2);
  CHECK(rec_write(w) < 0 && strstr(rec_writer_error(w), "required field 'src_lang' is missing"),
        "missing field: %s", rec_writer_error(w));
  rec_put_str(w, id, "p\xC3", 2);
  rec_put_str(w, sl, "de", 2);
  rec_put_str(w, tl, "en", 2);
  rec_put(w, si, ids, n3);
  rec_put(w, ti, ids, n2);
  CHECK(rec_write(w) < 0 && strstr(rec_writer_error(w), "invalid UTF-8"), "writer rejects bad UTF-8: %s",
        rec_writer_error(w));
  rec_put_str(w, id, "p1", 2);
  rec_put_str(w, sl, "de", 2);
  rec_put_str(w, tl, "en", 2);
  rec_put(w, si, ids, n3);
  rec_put(w, ti, ids, n2);
  vec[4] = NAN;
  rec_put(w, sv, vec, (uint32_t[]){3, 3});
  CHECK(rec_write(w) < 0 && strstr(rec_writer_error(w), "NaN at element 4"), "writer rejects NaN: %s",
        rec_writer_error(w));
  CHECK(rec_writer_count(w) == 0, "nothing written by failed records");
  rec_writer_abort(w);
  CHECK(access(tmp_path("pair_abort.rec"), F_OK) != 0, "aborted writer leaves no file");
  rec_schema_free(s);

  /* an empty stream is valid: header, schema, end frame */
  s = rec_schema_builtin("run");
  w = rec_writer_path(tmp_path("empty.rec"), s, NULL);
  CHECK(rec_writer_close(w) == 0, "empty stream written");
  size_t len;
  uint8_t *b = slurp(tmp_path("empty.rec"), &len);
  uint64_t n = 9;
  const char *e = read_all_err(b, len, &n);
  CHECK(!*e && n == 0, "empty stream reads as 0 records %s", e);
  free(b);
  rec_schema_free(s);

  /* stream dim taken from the first record */
  s = rec_schema_builtin("vectors");
  w = rec_writer_path(tmp_path("dim.rec"), s, NULL);
  float v6[6] = {1, 2, 3, 4, 5, 6};
  rec_put_str(w, 0, "a", 1);
  rec_put(w, rec_field_index(s, "ids"), ids, n2);
  rec_put(w, rec_field_index(s, "vecs"), v6, (uint32_t[]){2, 3});
  CHECK(rec_write(w) == 0, "first record fixes d");
  rec_put_str(w, 0, "b", 1);
  rec_put(w, rec_field_index(s, "ids"), ids, n3);
  rec_put(w, rec_field_index(s, "vecs"), v6, (uint32_t[]){3, 2});
  CHECK(rec_write(w) < 0 && strstr(rec_writer_error(w), "the stream fixes d = 3"), "later record must match: %s",
        rec_writer_error(w));
  rec_writer_close(w);
  char err[512];
  rec_reader *r = rec_open_path(tmp_path("dim.rec"), err, sizeof err);
  CHECK(r && rec_get_dim(rec_reader_schema(r), "d") == 3, "schema frame carries d = 3");
  rec_close(r);
  rec_schema_free(s);
}

static void schema_tests(void) {
  const char *const *names = rec_schema_builtin_names();
  int n = 0, have_all = 1;
  while (names[n]) n++;
  const char *want[] = {"text", "tokens", "vectors", "pair", "plan", "run", "trainlog"};
  for (int i = 0; i < 7; i++) {
    rec_schema *s = rec_schema_builtin(want[i]);
    if (!s) have_all = 0;
    rec_schema_free(s);
  }
  CHECK(n >= 7 && have_all, "%d builtin schemas including the 7 of the issue", n);
  CHECK(rec_schema_builtin("nope") == NULL, "unknown schema gives NULL");
  rec_schema *s = rec_schema_builtin("vectors");
  int vecs = rec_field_index(s, "vecs");
  CHECK(vecs >= 0 && s->fields[vecs].type == REC_F32 && s->fields[vecs].rank == 2 &&
            !strcmp(s->dims[s->fields[vecs].dim[1]].name, "d") && s->dims[s->fields[vecs].dim[1]].fixed == REC_DIM_UNSET,
        "vectors.vecs is f32[n][d] with d a stream dim");
  CHECK(rec_get_dim(s, "n") == REC_DIM_PER_RECORD, "n is per record");
  rec_schema_free(s);
  char err[256];
  const char *bad[][2] = {
      {"record: x\nfields:\n  - {name: a, type: u64}\n", "field type 'u64'"},
      {"record: x\ndims: {n: record}\nfields:\n  - {name: a, type: u32, shape: [m]}\n", "dimension 'm' is not declared"},
      {"record: x\nfields:\n  - {name: a, type: str, shape: []}\n  - {name: a, type: str}\n", "declared twice"},
      {"record: x\nfields: [\n", "line"},
      {"record: x\nfoo: 1\nfields: []\n", "unknown key 'foo'"},
      {"record: x\nfields:\n  - {name: a, type: str, shape: [n]}\ndims: {n: record}\n", "str fields cannot have a shape"},
      {"record: x\ndims: {n: -3}\nfields:\n  - {name: a, type: str}\n", "not record, stream or"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rec_schema *b = rec_schema_from_yaml(bad[i][0], strlen(bad[i][0]), err, sizeof err);
    CHECK(!b && strstr(err, bad[i][1]), "bad schema %zu rejected: %s", i, b ? "(accepted)" : err);
    rec_schema_free(b);
  }
  const char *good = "record: x\ndims: {n: record, k: 2}\nfields:\n  - {name: a, type: i32, shape: [n, k]}\nmeta: {model: bert}\n";
  s = rec_schema_from_yaml(good, strlen(good), err, sizeof err);
  CHECK(s && rec_get_dim(s, "k") == 2 && !strcmp(rec_meta_get(s, "model"), "bert"), "custom schema with meta");
  /* print -> parse gives the same schema */
  char *txt = NULL;
  size_t tl = 0;
  FILE *mf = open_memstream(&txt, &tl);
  rec_schema_print(mf, s);
  fclose(mf);
  rec_schema *s2 = rec_schema_from_yaml(txt, tl, err, sizeof err);
  CHECK(s2 && s2->nfields == 1 && s2->fields[0].rank == 2 && !strcmp(rec_meta_get(s2, "model"), "bert"),
        "rec_schema_print output parses back");
  free(txt);
  rec_schema_free(s2);
  rec_schema_free(s);
}

static void crc_utf8_tests(void) {
  CHECK(crc32c(0, "123456789", 9) == 0xE3069283u, "crc32c check value (dispatch) %08x", crc32c(0, "123456789", 9));
  CHECK(crc32c_portable(0, "123456789", 9) == 0xE3069283u, "crc32c check value (table)");
  CHECK(crc32c(crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u, "crc32c chains");
  uint8_t buf[1000];
  rng_t g;
  rng_seed(&g, 1);
  for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)rng_next(&g);
  int same = 1;
  for (int off = 0; off < 9; off++)
    for (int n = 0; n < 300; n += 7)
      if (crc32c(0, buf + off, (size_t)n) != crc32c_portable(0, buf + off, (size_t)n)) same = 0;
  CHECK(same, "hardware and table CRC agree at every alignment and length");
  size_t big = 3 * 8192 * 3 + 3 * 256 * 2 + 77;
  uint8_t *bb = malloc(big + 8);
  for (size_t i = 0; i < big + 8; i++) bb[i] = (uint8_t)rng_next(&g);
  same = 1;
  for (size_t n = big - 3000; n <= big; n += 97)
    for (int off = 0; off < 3; off++)
      if (crc32c(0, bb + off, n) != crc32c_portable(0, bb + off, n)) same = 0;
  CHECK(same, "three-way interleaved CRC joins blocks correctly (lengths around %zu)", big);
  free(bb);
  uint8_t zeros[32] = {0};
  CHECK(crc32c(0, zeros, 32) == 0x8A9136AAu, "crc32c of 32 zero bytes (RFC 3720 B.4)");
  struct {
    const char *s;
    size_t len, bad;
  } u[] = {
      {"plain ascii text", 16, 16}, {"caf\xC3\xA9", 5, 5}, {"\xE4\xB8\x96\xE7\x95\x8C", 6, 6},
      {"\xF0\x9F\x8C\x8D", 4, 4}, {"ab\xC0\xAF", 4, 2}, {"\xED\xA0\x80", 3, 0}, {"abc\xF4\x90\x80\x80", 7, 3},
      {"xyz\xE4\xB8", 5, 3}, {"12345678\xFF", 9, 8}, {"\x80", 1, 0}, {"\xE0\x80\xAF", 3, 0},
  };
  for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
    CHECK(utf8_check(u[i].s, u[i].len) == u[i].bad, "utf8_check case %zu -> %zu", i, utf8_check(u[i].s, u[i].len));
}

/* A pipe that delivers the stream one byte per write: the fd reader must
 * assemble the file header, frame headers and payloads from partial reads. */
static void pipe_tests(void) {
  const char *files[] = {"vectors.rec", "vectors.rec.zst"};
  for (int k = 0; k < 2; k++) {
    size_t len;
    uint8_t *b = slurp(tmp_path(files[k]), &len);
    int fds[2];
    if (!b || pipe(fds) != 0) {
      CHECK(0, "pipe setup");
      return;
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      for (size_t i = 0; i < len; i++)
        if (write(fds[1], b + i, 1) != 1) _exit(1);
      _exit(0);
    }
    close(fds[1]);
    char err[1024];
    rec_reader *r = rec_open_fd(fds[0], "pipe", err, sizeof err);
    int n = 0, rc = -1;
    if (r) {
      rec_record rec;
      while ((rc = rec_read(r, &rec)) == 0) n++;
      rec_close(r);
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(r && rc == 1 && n == NREC, "%s through a pipe one byte at a time: %d records", files[k], n);
    free(b);
  }
}

/* The library returns errors (issue 13): nothing in stream/ prints or
 * exits; a closed pipe, a misuse or a bad path comes back as -1 / NULL with
 * a message, and the program (cli/stream_cli.c) decides what to do. */
static void library_error_tests(void) {
  /* EPIPE: the reader of the pipe is gone (SIGPIPE is ignored by otc_init) */
  int fds[2];
  if (pipe(fds) != 0) {
    CHECK(0, "pipe");
    return;
  }
  close(fds[0]);
  rec_schema *s = rec_schema_builtin("text");
  /* in a child, so that a library that exits cannot end this test quietly */
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    rec_writer *cw = rec_writer_fd(fds[1], "-", s, NULL);
    rec_put_str(cw, 0, "a", 1);
    rec_put_str(cw, 2, "b", 1);
    if (rec_write(cw) != 0) _exit(2); /* buffered: the pipe is not touched yet */
    int crc = rec_writer_close(cw);
    _exit(crc == -1 && rec_writer_errno(NULL) == EPIPE && strstr(rec_writer_error(NULL), "stdout: write error") ? 42 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(fds[1]);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42,
        "a closed pipe is reported (-1, EPIPE), not exited on (child status %d)", WEXITSTATUS(status));
  rec_writer *w;
  int rc;

  /* a bad output path: NULL, the message names the path, errno kept */
  w = rec_writer_path(tmp_path("no/such/dir/x.rec"), s, NULL);
  CHECK(!w && rec_writer_errno(NULL) == ENOENT && strstr(rec_writer_error(NULL), "cannot create '") &&
            strstr(rec_writer_error(NULL), "no/such/dir/x.rec"),
        "uncreatable output: %s", rec_writer_error(NULL));
  /* an invalid schema or zstd level: NULL with the reason */
  rec_schema *bad = rec_schema_copy(s);
  int nfields = bad->nfields;
  bad->nfields = 0;
  w = rec_writer_fd(1, "-", bad, NULL);
  CHECK(!w && strstr(rec_writer_error(NULL), "invalid schema"), "invalid schema: %s", rec_writer_error(NULL));
  bad->nfields = nfields; /* so that every field name is freed */
  rec_schema_free(bad);
  w = rec_writer_fd(1, "-", s, &(rec_write_opts){99});
  CHECK(!w && strstr(rec_writer_error(NULL), "zstd level 99"), "bad zstd level: %s", rec_writer_error(NULL));

  /* misuse of the put functions: reported by the next rec_write, which writes nothing */
  const char *path = tmp_path("misuse.rec");
  w = rec_writer_path(path, s, NULL);
  rec_put_str(w, 7, "x", 1);
  rc = rec_write(w);
  CHECK(rc == -1 && strstr(rec_writer_error(w), "record 0: rec_put_str: no field number 7 in schema 'text'"),
        "bad field number: %s", rec_writer_error(w));
  rec_put_u32_scalar(w, 0, 3);
  rc = rec_write(w);
  CHECK(rc == -1 && strstr(rec_writer_error(w), "field 'id' is not a u32 scalar"), "put of another type: %s",
        rec_writer_error(w));
  rec_put_str(w, 0, "a", 1);
  rec_put_str(w, 2, "b", 1);
  CHECK(rec_write(w) == 0 && rec_writer_count(w) == 1, "the writer goes on after a refused record");
  rec_meta_set(rec_writer_schema(w), "late", "1");
  rec_put_str(w, 0, "c", 1);
  rec_put_str(w, 2, "d", 1);
  rc = rec_write(w);
  CHECK(rc == -1 && strstr(rec_writer_error(w), "the schema cannot change after the first record"),
        "schema changed after the first record: %s", rec_writer_error(w));
  CHECK(rec_writer_close(w) == -1 && access(path, F_OK) != 0, "that writer fails at close and leaves no file");

  /* rec_set_dim: -1 instead of exiting */
  rec_schema *v = rec_schema_builtin("vectors");
  CHECK(rec_set_dim(v, "nope", 3) == -1 && rec_set_dim(v, "d", -5) == -1 && rec_set_dim(v, "d", 1LL << 32) == -1 &&
            rec_get_dim(v, "d") == REC_DIM_UNSET,
        "rec_set_dim refuses an unknown dimension and out-of-range values");
  CHECK(rec_set_dim(v, "d", 4) == 0 && rec_get_dim(v, "d") == 4, "rec_set_dim sets a dimension");
  rec_schema_free(v);
  CHECK(rec_schema_builtin_error() == NULL, "every schemas/NAME.yaml compiled in parses");

  /* typed accessors of the wrong type: no data, no exit */
  size_t len;
  uint8_t *b = text_stream(&len, 1);
  char err[512];
  rec_reader *r = rec_open_mem(b, len, "t.rec", err, sizeof err);
  rec_record rec;
  size_t n = 99;
  rc = rec_read(r, &rec);
  CHECK(rc == 0 && rec_u32(&rec, 0, &n) == NULL && n == 0 && rec_f32(&rec, 2, NULL) == NULL &&
            isnan(rec_f64_scalar(&rec, 0)) && rec_u32_scalar(&rec, 40) == 0 && rec_str(&rec, -1, &n) == NULL &&
            !strcmp(rec_str(&rec, 0, &n), "doc0") && n == 4,
        "accessors of another type or an unknown field give no data");
  rec_close(r);
  CHECK(rec_open_expect_path(tmp_path("small.rec"), (const char *const[]){"vectors", NULL}, err, sizeof err) == NULL &&
            strstr(err, "small.rec: expected a 'vectors' stream, got 'text'"),
        "rec_open_expect_path: %s", err);
  free(b);
  rec_schema_free(s);
}

/* Issue 14 item 8: a schema frame that repeats a metadata key is invalid
 * (schemas/README.md 1.2) and refused at open by every reader, with the key
 * named; so is a YAML schema that repeats one. */
static void duplicate_meta_tests(void) {
  rec_schema *s = rec_schema_builtin("text");
  rec_meta_set(s, "model", "good");
  rec_meta_set(s, "mode1", "evil");
  rec_meta_set(s, "model", "good"); /* rec_meta_set replaces: still two keys */
  CHECK(s->nmeta == 2, "rec_meta_set replaces the value of an existing key");
  const char *path = tmp_path("dupmeta.rec");
  rec_writer *w = rec_writer_path(path, s, NULL);
  rec_put_str(w, 0, "a", 1);
  rec_put_str(w, 2, "b", 1);
  rec_write(w);
  rec_writer_close(w);
  size_t len;
  uint8_t *b = slurp(path, &len);
  const char *e = read_all_err(b, len, NULL);
  CHECK(!*e, "two distinct keys read: %s", e);
  uint8_t *k = memmem(b, len, "mode1", 5);
  k[4] = 'l'; /* "mode1" -> "model": the frame now says model=good, model=evil */
  fix_crc(b, 8);
  e = read_all_err(b, len, NULL);
  CHECK(strstr(e, "t.rec: schema frame (byte 8): invalid schema frame: metadata key 'model' appears more than once"),
        "a repeated metadata key is refused at open: %s", e);
  free(b);
  rec_schema_free(s);
  char err[256];
  const char *y = "record: x\nfields:\n  - {name: a, type: str}\nmeta: {model: a, layer: 3, model: b}\n";
  rec_schema *ys = rec_schema_from_yaml(y, strlen(y), err, sizeof err);
  CHECK(!ys && strstr(err, "metadata key 'model' appears more than once"), "YAML meta with a repeated key: %s",
        ys ? "(accepted)" : err);
  rec_schema_free(ys);
  /* many entries: the duplicate check sorts (a hostile frame of 65536 entries stays fast) */
  s = rec_schema_builtin("text");
  char kb[32];
  for (int i = 0; i < 65536; i++) {
    snprintf(kb, sizeof kb, "k%d", i);
    rec_meta_append(s, kb, "v");
  }
  double t0 = now_seconds();
  int ok = rec_schema_validate(s, err, sizeof err) == 0;
  rec_meta_append(s, "k77", "again");
  int refused = rec_schema_validate(s, err, sizeof err) != 0 && strstr(err, "'k77'");
  CHECK(ok && refused, "65537 entries with one repeat: found in %.3f s", now_seconds() - t0);
  rec_schema_free(s);
}

/* Issue 14 item 13: hostile sizes are caught against the frame length
 * (record dims) and the frame limit (stream dims) before anyone allocates,
 * and rec_size_check lets a consumer check what it derives from a record. */
static void hostile_size_tests(void) {
  char err[512];
  rec_schema *s = rec_schema_builtin("vectors");
  rec_set_dim(s, "d", 4294967295LL);
  CHECK(rec_schema_validate(s, err, sizeof err) != 0 &&
            strstr(err, "field 'vecs': d = 4294967295 makes its f32 arrays larger than the frame limit"),
        "d = 2^32-1 for f32 vectors: %s", err);
  CHECK(rec_writer_fd(1, "-", s, NULL) == NULL && strstr(rec_writer_error(NULL), "frame limit"),
        "a writer refuses it too: %s", rec_writer_error(NULL));
  rec_set_dim(s, "d", 268435456); /* 2^28 f32 = 1 GiB: exactly the limit */
  CHECK(rec_schema_validate(s, err, sizeof err) == 0, "d = 2^28 (one row = the frame limit) is valid");
  rec_set_dim(s, "d", 268435457);
  CHECK(rec_schema_validate(s, err, sizeof err) != 0, "d = 2^28 + 1 is not");
  rec_schema_free(s);
  const char *y = "record: x\ndims: {a: 4294967295, z: 0}\nfields:\n  - {name: f, type: f64, shape: [a, z]}\n";
  s = rec_schema_from_yaml(y, strlen(y), err, sizeof err);
  CHECK(s != NULL, "a huge dimension times a zero one is an empty slice: valid %s", s ? "" : err);
  rec_schema_free(s);

  /* the stream of the issue: vectors with d fixed to 2^32-1 and one record of n = 0 */
  s = rec_schema_builtin("vectors");
  rec_set_dim(s, "d", 1234567);
  const char *path = tmp_path("hostile.rec");
  rec_writer *w = rec_writer_path(path, s, NULL);
  rec_put_str(w, 0, "x", 1);
  rec_put(w, rec_field_index(s, "ids"), "", (uint32_t[]){0});
  rec_put(w, rec_field_index(s, "vecs"), "", (uint32_t[]){0, 1234567});
  CHECK(rec_write(w) == 0 && rec_writer_close(w) == 0, "a vectors stream with an empty record");
  rec_schema_free(s);
  size_t len;
  uint8_t *b = slurp(path, &len);
  int64_t d = 1234567;
  uint8_t *at = memmem(b, len, &d, 8);
  d = 4294967295LL;
  memcpy(at, &d, 8);
  fix_crc(b, 8);
  const char *e = read_all_err(b, len, NULL);
  CHECK(strstr(e, "t.rec: schema frame (byte 8): invalid schema frame: field 'vecs': d = 4294967295"),
        "the %zu-byte stream with d = 2^32-1 is refused at open: %s", len, e);
  free(b);

  /* a per-record dimension no present field uses must be 0 */
  s = rec_schema_builtin("plan");
  path = tmp_path("plan-dim.rec");
  w = rec_writer_path(path, s, NULL);
  rec_put_str(w, 0, "p", 1);
  rec_put_f64_scalar(w, rec_field_index(s, "cost"), 1.0);
  rec_put_u32_scalar(w, rec_field_index(s, "iters"), 3);
  rec_put_f64_scalar(w, rec_field_index(s, "err"), 0.0);
  CHECK(rec_write(w) == 0 && rec_writer_close(w) == 0, "a plan record without plan and align");
  rec_schema_free(s);
  b = slurp(path, &len);
  size_t f1 = frame_at(b, len, 1);
  e = read_all_err(b, len, NULL);
  CHECK(!*e && rd32(b + f1 + 16 + 8) == 0, "its dimensions n, m, k are stored as 0: %s", e);
  wr32(b + f1 + 16 + 8, 40000); /* n = 40000 with no plan */
  fix_crc(b, f1);
  e = read_all_err(b, len, NULL);
  CHECK(strstr(e, "record 0 (byte ") && strstr(e, "dimension 'n' = 40000 but no field of the record uses it"),
        "an unused per-record dimension set: %s", e);
  free(b);

  /* a per-record dimension beyond the frame: an array with a zero-extent partner */
  y = "record: pts\ndims: {n: record, k: 0}\nfields:\n  - {name: p, type: f32, shape: [n, k]}\n";
  s = rec_schema_from_yaml(y, strlen(y), err, sizeof err);
  path = tmp_path("pts.rec");
  w = rec_writer_path(path, s, NULL);
  rec_put(w, 0, "", (uint32_t[]){3, 0});
  CHECK(rec_write(w) == 0 && rec_writer_close(w) == 0, "n = 3 rows of k = 0");
  rec_schema_free(s);
  b = slurp(path, &len);
  f1 = frame_at(b, len, 1);
  e = read_all_err(b, len, NULL);
  CHECK(!*e, "n = 3 in a 16-byte frame reads: %s", e);
  wr32(b + f1 + 16 + 8, 4000000000u);
  fix_crc(b, f1);
  e = read_all_err(b, len, NULL);
  CHECK(strstr(e, "record 0 (byte 104): dimension 'n' = 4000000000 is more than the 16-byte record frame can hold"),
        "n = 4e9 of empty rows: %s", e);
  free(b);

  /* rec_size_check: what a consumer derives from a record */
  b = vec_stream(&len);
  rec_reader *r = rec_open_mem(b, len, "v.rec", err, sizeof err);
  rec_record rec;
  rec_read(r, &rec);
  rec_read(r, &rec);
  char want[160];
  snprintf(want, sizeof want,
           "v.rec: record 1 (byte %zu): plan of 40000 x 40000 x 4 bytes = 6400000000 bytes is more than the limit "
           "of 1073741824 bytes",
           frame_at(b, len, 2));
  CHECK(rec_size_check(r, &rec, "plan", (const uint64_t[]){40000, 40000}, 2, 4, 0, err, sizeof err) == -1 &&
            !strcmp(err, want),
        "a 40k x 40k plan is refused naming the record: %s", err);
  CHECK(rec_size_check(r, &rec, "plan", (const uint64_t[]){1000, 1000}, 2, 4, 0, err, sizeof err) == 0,
        "a 1000 x 1000 plan passes");
  CHECK(rec_size_check(r, &rec, "x", (const uint64_t[]){0, UINT64_MAX}, 2, 8, 0, err, sizeof err) == 0,
        "a zero factor passes");
  CHECK(rec_size_check(r, &rec, "x", (const uint64_t[]){1ull << 40, 1ull << 40}, 2, 8, 0, err, sizeof err) == -1 &&
            strstr(err, "x of 1099511627776 x 1099511627776 x 8 bytes is more than"),
        "an overflowing product is refused: %s", err);
  CHECK(rec_size_check(r, &rec, "row", (const uint64_t[]){10, 26}, 2, 4, 1000, err, sizeof err) == -1 &&
            strstr(err, "= 1040 bytes is more than the limit of 1000 bytes"),
        "a caller's own limit: %s", err);
  free(b);
  rec_close(r);
}

/* Issue 14 item 12: stale temporaries PATH.tmp.PID of a killed writer are
 * removed by the next writer of PATH; never one of a live writer. */
static void touch(const char *p) {
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd >= 0) close(fd);
}

static void stale_tmp_tests(void) {
  /* PIDs above pid_max: no process can have them (a just-reaped child's PID
   * could be handed out again at once on a busy machine) */
  long pid_max = 4194304;
  FILE *pm = fopen("/proc/sys/kernel/pid_max", "r");
  if (pm) {
    if (fscanf(pm, "%ld", &pid_max) != 1) pid_max = 4194304;
    fclose(pm);
  }
  long dead = pid_max + 1, dead2 = pid_max + 2;
  char out[600], name[700];
  snprintf(out, sizeof out, "%s", tmp_path("o.rec"));
  const char *kinds[] = {"dead", "locked", "mine", "other"};
  char files[4][700];
  snprintf(files[0], sizeof files[0], "%s.tmp.%ld", out, dead);             /* stale: removed */
  snprintf(files[1], sizeof files[1], "%s.tmp.%ld", out, dead2); /* locked below: kept */
  snprintf(files[2], sizeof files[2], "%s.tmp.%ld", out, (long)getppid());  /* a live PID: kept */
  snprintf(files[3], sizeof files[3], "%s.tmp.notapid", out);               /* not our naming: kept */
  for (int i = 0; i < 4; i++) touch(files[i]);
  snprintf(name, sizeof name, "%sx.tmp.%ld", out, dead);                   /* another output's: kept */
  touch(name);
  int lk = open(files[1], O_RDONLY);
  int locked = lk >= 0 && flock(lk, LOCK_EX) == 0; /* as a writer in another PID namespace would */
  int n = rec_tmp_sweep(out);
  int exists[4];
  for (int i = 0; i < 4; i++) exists[i] = access(files[i], F_OK) == 0;
  CHECK(locked && n == 1 && !exists[0] && exists[1] && exists[2] && exists[3] && access(name, F_OK) == 0,
        "sweep removes only the stale one (removed %d; %s %d, %s %d, %s %d, %s %d)", n, kinds[0], exists[0], kinds[1],
        exists[1], kinds[2], exists[2], kinds[3], exists[3]);
  close(lk);
  n = rec_tmp_sweep(out);
  CHECK(n == 1 && access(files[1], F_OK) != 0, "once the lock is gone, that one goes too");
  /* a writer of the same output sweeps first, and holds its own lock */
  touch(files[0]);
  rec_schema *s = rec_schema_builtin("text");
  rec_writer *w = rec_writer_path(out, s, NULL);
  CHECK(w && access(files[0], F_OK) != 0, "rec_writer_path removes the stale temporary of its output");
  snprintf(name, sizeof name, "%s.tmp.%ld", out, (long)getpid());
  int fd = open(name, O_RDONLY);
  CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0, "the writer holds a lock on its own temporary");
  if (fd >= 0) close(fd);
  CHECK(rec_writer_close(w) == 0 && access(name, F_OK) != 0 && access(out, F_OK) == 0, "renamed into place");
  unlink(files[2]);
  unlink(files[3]);
  rec_schema_free(s);
  /* by prefix, as rec_split sweeps for all its shards at once */
  char pre[600], pf[4][700];
  snprintf(pre, sizeof pre, "%s", tmp_path("sh-"));
  snprintf(pf[0], sizeof pf[0], "%s000.rec.tmp.%ld", pre, dead);       /* removed */
  snprintf(pf[1], sizeof pf[1], "%s017.rec.zst.tmp.%ld", pre, dead2);  /* removed */
  snprintf(pf[2], sizeof pf[2], "%s001.rec.tmp.%ld", pre, (long)getppid()); /* live: kept */
  snprintf(pf[3], sizeof pf[3], "%s.tmp.%ld", tmp_path("sh"), dead);   /* not the prefix: kept */
  for (int i = 0; i < 4; i++) touch(pf[i]);
  n = rec_tmp_sweep_prefix(pre);
  CHECK(n == 2 && access(pf[0], F_OK) != 0 && access(pf[1], F_OK) != 0 && access(pf[2], F_OK) == 0 &&
            access(pf[3], F_OK) == 0,
        "sweep by prefix: the two stale shards' temporaries (removed %d)", n);
  unlink(pf[2]);
  unlink(pf[3]);
}

/* ---- what `rec` does, as library calls (stream/rec_json.h, rec_ops.h) ---- */

/* JSON Lines through rec_json_encode_file into a stream at path; "" or the error. */
static const char *encode_text(const char *schema, const char *jsonl, const char *path) {
  static char err[1024];
  rec_schema *s = rec_schema_builtin(schema);
  rec_writer *w = rec_writer_path(path, s, NULL);
  FILE *in = fmemopen((void *)jsonl, strlen(jsonl), "r");
  int rc = rec_json_encode_file(in, "in.jsonl", s, w, err, sizeof err);
  fclose(in);
  if (rc == 0 && rec_writer_close(w) != 0) snprintf(err, sizeof err, "%s", rec_writer_error(NULL));
  else if (rc != 0) rec_writer_abort(w);
  rec_schema_free(s);
  return rc ? err : "";
}

/* The stream at path as JSON Lines (static buffer), via rec_json_dump. */
static const char *dump_text(const char *path) {
  static char out[8192];
  char err[1024];
  rec_reader *r = rec_open_path(path, err, sizeof err);
  if (!r) return err[0] ? "(open failed)" : "";
  FILE *f = fmemopen(out, sizeof out, "w");
  int rc = rec_json_dump(r, f, err, sizeof err);
  fputc(0, f);
  fclose(f);
  rec_close(r);
  return rc ? "(dump failed)" : out;
}

static void json_ops_tests(void) {
  const char *jl = "{\"id\":\"v1\",\"ids\":[101,7],\"vecs\":[[0.1,-0],[1e-45,3.4028235e+38]],\"vec\":[1,2]}\n"
                   "\n"
                   "{\"id\":\"v2\",\"lang\":\"fr\",\"ids\":[],\"vecs\":[]}\n";
  const char *path = tmp_path("j.rec");
  const char *e = encode_text("vectors", jl, path);
  const char *want = "{\"id\":\"v1\",\"ids\":[101,7],\"vecs\":[[0.1,-0],[1e-45,3.4028235e+38]],\"vec\":[1,2]}\n"
                     "{\"id\":\"v2\",\"lang\":\"fr\",\"ids\":[],\"vecs\":[]}\n";
  const char *got = dump_text(path);
  CHECK(!*e && !strcmp(got, want), "JSON Lines -> stream -> JSON Lines is exact (blank line skipped) %s", e);
  struct {
    const char *line, *msg;
  } bad[] = {
      {"{\"id\":\"a\",\"ids\":[1,2],\"vecs\":[[1,2],[3]]}\n", "in.jsonl: line 1: field 'vecs': ragged array"},
      {"{\"id\":\"a\",\"ids\":[1],\"vecs\":[[1]]}\n{\"id\":\"b\",\"idz\":[]}\n",
       "in.jsonl: line 2: unknown field 'idz' for record type 'vectors'"},
      {"{\"id\":\"a\",\"ids\":[1,2],\"vecs\":[[1,2]]}\n", "line 1: stdout: record 0: field 'vecs' has n = 1"},
      {"{\"id\":\"a\",\"ids\":[-1],\"vecs\":[[1]]}\n", "field 'ids': '-1' is not a u32"},
      {"[1]\n", "line 1: expected a JSON object, got array"},
      {"{\"id\":\"a\",\"ids\":[],\"vecs\":[]}\n", "cannot tell dimension 'd' from an empty array"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    rec_schema *s = rec_schema_builtin("vectors");
    rec_writer *w = rec_writer_fd(open("/dev/null", O_WRONLY), "-", s, NULL);
    char err[1024] = "";
    FILE *in = fmemopen((void *)bad[i].line, strlen(bad[i].line), "r");
    int rc = rec_json_encode_file(in, "in.jsonl", s, w, err, sizeof err);
    fclose(in);
    CHECK(rc == -1 && strstr(err, bad[i].msg), "bad JSON line %zu: %s", i, err);
    rec_writer_abort(w);
    rec_schema_free(s);
  }

  /* copy: all, the first k, and read_all's count */
  size_t len;
  uint8_t *b = text_stream(&len, 5);
  char err[1024];
  const char *out = tmp_path("copy.rec");
  for (int k = 0; k <= 6; k += 3) {
    rec_reader *r = rec_open_mem(b, len, "t.rec", err, sizeof err);
    rec_writer *w = rec_writer_path(out, rec_reader_schema(r), NULL);
    int rc = rec_copy(r, w, k == 6 ? UINT64_MAX : (uint64_t)k, err, sizeof err);
    uint64_t nread = rec_reader_count(r);
    rec_writer_close(w);
    rec_close(r);
    r = rec_open_path(out, err, sizeof err);
    int rc2 = r ? rec_read_all(r, err, sizeof err) : -1;
    uint64_t n = r ? rec_reader_count(r) : 99;
    rec_close(r);
    uint64_t want_n = k == 6 ? 5 : (uint64_t)k;
    CHECK(rc == 0 && rc2 == 0 && n == want_n && nread == want_n, "rec_copy of %s: %llu records (%llu read)",
          k == 6 ? "all" : k ? "3" : "0", (unsigned long long)n, (unsigned long long)nread);
  }
  /* a damaged input: rec_copy fails with the reader's message */
  b[len - 10] ^= 1;
  rec_reader *r = rec_open_mem(b, len, "t.rec", err, sizeof err);
  rec_writer *w = rec_writer_path(out, rec_reader_schema(r), NULL);
  CHECK(rec_copy(r, w, UINT64_MAX, err, sizeof err) == -1 && strstr(err, "t.rec: record 5 (byte 432): frame header CRC-32C mismatch"),
        "rec_copy of a damaged stream: %s", err);
  rec_writer_abort(w);
  rec_close(r);
  b[len - 10] ^= 1;

  /* shuffle: a permutation, determined by the seed */
  char order[3][64];
  for (int t = 0; t < 3; t++) {
    r = rec_open_mem(b, len, "t.rec", err, sizeof err);
    w = rec_writer_path(out, rec_reader_schema(r), NULL);
    int rc = rec_shuffle(r, w, t == 2 ? 8 : 7, err, sizeof err);
    rec_writer_close(w);
    rec_close(r);
    r = rec_open_path(out, err, sizeof err);
    rec_record rec;
    size_t k = 0;
    while (rec_read(r, &rec) == 0) order[t][k++] = rec_str(&rec, 0, NULL)[3];
    order[t][k] = 0;
    rec_close(r);
    CHECK(rc == 0 && k == 5, "shuffle %d: order %s", t, order[t]);
  }
  int perm = 1;
  for (char c = '0'; c < '5'; c++) perm &= strchr(order[0], c) != NULL;
  CHECK(perm && !strcmp(order[0], order[1]) && strcmp(order[0], order[2]) && strcmp(order[0], "01234"),
        "same seed same order (%s = %s), another seed another (%s)", order[0], order[1], order[2]);

  /* split: round-robin and runs; a bad input leaves no shard */
  char prefix[600];
  snprintf(prefix, sizeof prefix, "%s", tmp_path("part"));
  for (int mode = 0; mode < 3; mode++) {
    if (mode == 2) b[len - 10] ^= 1;
    r = rec_open_mem(b, len, "t.rec", err, sizeof err);
    rec_split_opts so = {prefix, ".rec", mode == 0 ? 2 : 0, 2, rec_reader_schema(r), NULL, false};
    char **names = NULL;
    size_t nn = 0;
    int rc = rec_split(r, &so, &names, &nn, err, sizeof err);
    rec_close(r);
    if (mode == 2) {
      char p0[700];
      snprintf(p0, sizeof p0, "%s-000.rec", prefix);
      CHECK(rc == -1 && access(p0, F_OK) != 0 && strstr(err, "frame header CRC-32C mismatch"), "split of a damaged input: no shard, %s",
            err);
      b[len - 10] ^= 1;
      continue;
    }
    uint64_t counts[4] = {0};
    for (size_t k = 0; k < nn && k < 4; k++) {
      rec_reader *pr = rec_open_path(names[k], err, sizeof err);
      if (pr && rec_read_all(pr, err, sizeof err) == 0) counts[k] = rec_reader_count(pr);
      rec_close(pr);
      unlink(names[k]);
      free(names[k]);
    }
    free(names);
    if (mode == 0)
      CHECK(rc == 0 && nn == 2 && counts[0] == 3 && counts[1] == 2, "split -n 2: %zu files of %llu, %llu", nn,
            (unsigned long long)counts[0], (unsigned long long)counts[1]);
    else
      CHECK(rc == 0 && nn == 3 && counts[0] == 2 && counts[1] == 2 && counts[2] == 1, "split -l 2: %zu files", nn);
  }
  free(b);

  /* from TSV */
  rec_schema *ts = rec_schema_builtin("text");
  const char *tsv[] = {"q1\ten\thello there\r\nq2\tde\tGuten Tag\n", "a\tone\n", "q1\ten\tok\nq2\tonly two\n",
                       "q1\ten\tbad \xff byte\n", "\ten\tx\n"};
  const char *expect[] = {"{\"id\":\"q1\",\"lang\":\"en\",\"text\":\"hello there\"}\n{\"id\":\"q2\",\"lang\":\"de\",\"text\":\"Guten Tag\"}\n",
                          "{\"id\":\"a\",\"lang\":\"sw\",\"text\":\"one\"}\n",
                          "t.tsv: line 2: expected 3 tab-separated columns (id, lang, text), got 2",
                          "t.tsv: line 1: column 3: invalid UTF-8 at byte 4 of the column", "t.tsv: line 1: empty id"};
  for (int i = 0; i < 5; i++) {
    w = rec_writer_path(out, ts, NULL);
    FILE *in = fmemopen((void *)tsv[i], strlen(tsv[i]), "r");
    rec_tsv_opts to = {i == 1, i == 1 ? "sw" : NULL};
    int rc = rec_tsv_to_text(in, "t.tsv", &to, w, err, sizeof err);
    fclose(in);
    if (rc == 0) {
      rec_writer_close(w);
      got = dump_text(out);
      CHECK(!strcmp(got, expect[i]), "from TSV %d: %zu bytes of JSON as expected", i, strlen(got));
    } else {
      rec_writer_abort(w);
      CHECK(i >= 2 && strstr(err, expect[i]), "from TSV %d: %s", i, err);
    }
  }
  rec_schema_free(ts);

  /* two streams' schemas compared */
  rec_schema *a = rec_schema_builtin("text"), *c = rec_schema_builtin("text"), *v = rec_schema_builtin("run");
  rec_meta_set(c, "model", "x");
  char why[200];
  CHECK(rec_schema_compare(a, v, true, why, sizeof why) == -1 && !strcmp(why, "record type 'text' vs 'run'"),
        "compare: %s", why);
  CHECK(rec_schema_compare(a, c, true, why, sizeof why) == -1 && !strcmp(why, "metadata differs: 0 vs 1 entries"),
        "compare with metadata: %s", why);
  CHECK(rec_schema_compare(a, c, false, why, sizeof why) == 0 && rec_layout_equal(a, c),
        "compare without metadata: the same layout");
  rec_schema_free(a);
  rec_schema_free(c);
  rec_schema_free(v);
}

int main(void) {
  otc_init("test_rec");
  if (!mkdtemp(tmpdir)) return 1;
  crc_utf8_tests();
  schema_tests();
  const char *const *names = rec_schema_builtin_names();
  for (int i = 0; names[i]; i++) {
    char f[64];
    snprintf(f, sizeof f, "%s.rec", names[i]);
    roundtrip(names[i], f, 0);
    snprintf(f, sizeof f, "%s.rec.zst", names[i]);
    roundtrip(names[i], f, 0); /* .zst name turns compression on */
  }
  roundtrip("vectors", "vectors19.rec", 19);
  pipe_tests();
  corruption_tests();
  writer_error_tests();
  library_error_tests();
  duplicate_meta_tests();
  hostile_size_tests();
  stale_tmp_tests();
  json_ops_tests();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) return 1;
  return check_done();
}
