/* trec.c: reading TREC files, the topic table, runs and rankings (see trec.h).
 *
 * Speed matters here because trec_eval spends nearly all its time parsing:
 * a file is read whole into one buffer, tokens are scanned with a byte-class
 * table, docids are never copied, the qid of the previous line is reused
 * when it repeats (runs list a topic's documents together), and scores take
 * an exact fast path (Clinger: a mantissa below 2^53 times or divided by an
 * exact power of ten up to 1e22 is correctly rounded) before strtod.
 */
#include "eval/trec.h"
#include "eval/trec_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

#define EMPTY_SLOT UINT32_MAX

uint64_t trec_hash_bytes(const char *p, size_t n, uint64_t seed) {
  uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  h = (h ^ w) * 0x94d049bb133111ebULL;
  h ^= h >> 32;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 31;
  return h;
}

uint64_t trec_hash_docid(const char *docid, size_t len) { return trec_hash_bytes(docid, len, 7); }

int trec_docid_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen) {
  uint32_t n = alen < blen ? alen : blen;
  int c = memcmp(a, b, n);
  if (c) return c;
  return (alen > blen) - (alen < blen);
}

trec_buf *trec_add_buf(trec_buf **bufs, size_t *n, const trec_buf *b) {
  *bufs = xrealloc(*bufs, (*n + 1) * sizeof **bufs);
  (*bufs)[*n] = *b;
  return &(*bufs)[(*n)++];
}

void *trec_grow(void *p, size_t *cap, size_t n, size_t sz) {
  if (n <= *cap && p) return p;
  *cap = n > 2 * *cap ? n : 2 * *cap;
  return xrealloc(p, xmul(*cap ? *cap : 1, sz));
}

void trec_buf_free(trec_buf *b) {
  if (b->maplen) munmap(b->p, b->maplen);
  else free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---------------- topics ---------------- */

void trec_set_init(trec_set *s) { memset(s, 0, sizeof *s); }

void trec_set_free(trec_set *s) {
  for (uint32_t i = 0; i < s->ntopics; i++) free(s->topic[i].qid);
  for (size_t i = 0; i < s->nbufs; i++) trec_buf_free(&s->bufs[i]);
  void *arrays[] = {s->topic, s->slot, s->judged, s->jg, s->pref, s->qrels_order, s->qrels_name, s->bufs};
  for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) free(arrays[i]);
  memset(s, 0, sizeof *s);
}

static void topic_rehash(trec_set *s, uint32_t nslots) {
  free(s->slot);
  s->slot = xmalloc(xmul(nslots, sizeof *s->slot));
  memset(s->slot, 0xff, (size_t)nslots * sizeof *s->slot);
  s->nslots = nslots;
  for (uint32_t t = 0; t < s->ntopics; t++) {
    uint32_t h = (uint32_t)trec_hash_bytes(s->topic[t].qid, s->topic[t].qid_len, 1) & (nslots - 1);
    while (s->slot[h] != EMPTY_SLOT) h = (h + 1) & (nslots - 1);
    s->slot[h] = t;
  }
}

uint32_t trec_topic_find(const trec_set *s, const char *qid, size_t len) {
  if (!s->nslots) return UINT32_MAX;
  uint32_t h = (uint32_t)trec_hash_bytes(qid, len, 1) & (s->nslots - 1);
  for (;;) {
    uint32_t t = s->slot[h];
    if (t == EMPTY_SLOT) return UINT32_MAX;
    if (s->topic[t].qid_len == len && !memcmp(s->topic[t].qid, qid, len)) return t;
    h = (h + 1) & (s->nslots - 1);
  }
}

uint32_t trec_topic_intern(trec_set *s, const char *qid, size_t len) {
  uint32_t t = trec_topic_find(s, qid, len);
  if (t != UINT32_MAX) return t;
  if (s->ntopics == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->topic = xrealloc(s->topic, xmul(s->cap, sizeof *s->topic));
  }
  t = s->ntopics++;
  trec_topic *tp = &s->topic[t];
  memset(tp, 0, sizeof *tp);
  tp->qid = xmalloc(len + 1);
  memcpy(tp->qid, qid, len);
  tp->qid[len] = 0;
  tp->qid_len = (uint32_t)len; /* a line is shorter than 4 GiB: trec_read_lines checks */
  if ((uint64_t)s->ntopics * 2 > s->nslots) {
    topic_rehash(s, s->nslots ? 2 * s->nslots : 256);
  } else {
    uint32_t h = (uint32_t)trec_hash_bytes(qid, len, 1) & (s->nslots - 1);
    while (s->slot[h] != EMPTY_SLOT) h = (h + 1) & (s->nslots - 1);
    s->slot[h] = t;
  }
  return t;
}

/* ---------------- reading ---------------- */

int trec_read_file(const char *path, trec_buf *b, char *err, size_t errlen) {
  memset(b, 0, sizeof *b);
  int fd = strcmp(path, "-") ? open(path, O_RDONLY) : 0;
  if (fd < 0) return set_err(err, errlen, "%s: %s", path, strerror(errno));
  struct stat st;
  size_t cap = 1 << 16;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    size_t len = (size_t)st.st_size;
    /* Map one byte more than the file: the tail of the file's last page reads
       as zeros, and when the file ends on a page boundary an anonymous page
       behind it supplies the terminating NUL. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t maplen = (len / page + 1) * page;
    char *p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED && len > 0 &&
        mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_POPULATE, fd, 0) == MAP_FAILED) {
      munmap(p, maplen);
      p = MAP_FAILED;
    }
    if (p != MAP_FAILED) {
      if (fd) close(fd);
      b->p = p;
      b->len = len;
      b->maplen = maplen;
      return 0;
    }
    cap = len + 1;
  }
  char *buf = xmalloc(cap + 1);
  size_t len = 0;
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = xrealloc(buf, cap + 1);
    }
    ssize_t k = read(fd, buf + len, cap - len);
    if (k < 0) {
      if (errno == EINTR) continue;
      set_err(err, errlen, "%s: %s", path, strerror(errno));
      free(buf);
      if (fd) close(fd);
      return -1;
    }
    if (k == 0) break;
    len += (size_t)k;
  }
  if (fd) close(fd);
  buf[len] = 0;
  b->p = buf;
  b->len = len;
  return 0;
}

/* Byte classes for the tokenizer: token bytes, blanks (isspace but the line
   end), and line ends. */
enum { C_TOK = 0, C_BLANK = 1, C_EOL = 2 };
static const unsigned char byte_class[256] = {
    [0] = C_EOL, ['\n'] = C_EOL, [' '] = C_BLANK, ['\t'] = C_BLANK,
    ['\r'] = C_BLANK, ['\v'] = C_BLANK, ['\f'] = C_BLANK,
};

/* Split the line at p into up to maxf tokens; the number of tokens found
   (counting beyond maxf); *next: the line's end (its '\n' or NUL). */
static inline int split_line(const char *p, const char **tok, uint32_t *tlen, int maxf,
                             const char **next) {
  int nf = 0;
  for (;;) {
    while (byte_class[(unsigned char)*p] == C_BLANK) p++;
    if (byte_class[(unsigned char)*p] == C_EOL) break;
    const char *b = p;
    while (byte_class[(unsigned char)*p] == C_TOK) p++;
    if (nf < maxf) {
      tok[nf] = b;
      tlen[nf] = (uint32_t)(p - b);
    }
    nf++;
  }
  *next = p;
  return nf;
}

int trec_next_line(trec_lines *L, const char **tok, uint32_t *tlen, int maxf, int *nf) {
  while (L->p < L->end) {
    L->line++;
    const char *q;
    int n = split_line(L->p, tok, tlen, maxf, &q);
    if (q - L->p > (ptrdiff_t)UINT32_MAX / 2)
      return set_err(L->err, L->errlen, "%s: line %llu: longer than 2 GiB", L->name,
                     (unsigned long long)L->line);
    if (*q == '\n') {
      L->p = q + 1;
    } else if (q >= L->end) {
      L->p = q;
    } else {
      return set_err(L->err, L->errlen, "%s: line %llu: NUL byte (trec_eval would stop reading here)",
                     L->name, (unsigned long long)L->line);
    }
    if (n == 0 || tok[0][0] == '#') continue;
    *nf = n;
    return 1;
  }
  return 0;
}

int trec_line_error(trec_lines *L, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return set_err(L->err, L->errlen, "%s: line %llu: %s", L->name, (unsigned long long)L->line, msg);
}

/* ---------------- numbers ---------------- */

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Mantissas of 17-19 digits (Python's repr, printf %.17g) are common in runs.
   With x87 extended precision, m (< 2^64) and 10^k (k <= 27) are exact and
   one multiplication or division rounds correctly to 64 bits; rounding that
   to 53 bits is then correct unless the 64-bit result sits exactly on a
   53-bit midpoint (low 11 bits 0x400), the one case of double rounding,
   which goes to strtod. Returns 0 when this path does not apply. */
#if defined(__x86_64__) && LDBL_MANT_DIG == 64
static const long double pow10_ld[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
static int extended_path(uint64_t m, int exp10, double *out) {
  if (exp10 < -27 || exp10 > 27) return 0;
  long double x = (long double)m;
  x = exp10 < 0 ? x / pow10_ld[-exp10] : x * pow10_ld[exp10];
  uint64_t sig;
  memcpy(&sig, &x, sizeof sig);
  if ((sig & 0x7ff) == 0x400) return 0;
  *out = (double)x;
  return 1;
}
#else
static int extended_path(uint64_t m, int exp10, double *out) { return 0; }
#endif

/* strtod over [p, end); with whole, all of it must be read. */
static int strtod_span(const char *p, const char *end, int whole, double *out) {
  char small[128], *tmp = small;
  size_t n = (size_t)(end - p);
  if (n >= sizeof small) tmp = xmalloc(n + 1);
  memcpy(tmp, p, n);
  tmp[n] = 0;
  char *stop;
  double v = strtod(tmp, &stop);
  int ok = !whole || (n > 0 && stop == tmp + n);
  if (tmp != small) free(tmp);
  if (!ok) return -1;
  *out = v;
  return 0;
}

static int parse_score_slow(const char *p, const char *end, int compat, double *out) {
  if (compat) return strtod_span(p, end, 0, out); /* atof: the prefix, 0 if none */
  if (strtod_span(p, end, 1, out) || !isfinite(*out)) return -1;
  return 0;
}

int trec_parse_score(const char *p, const char *end, int compat, double *out) {
  const char *s = p;
  int neg = 0;
  if (s < end && (*s == '+' || *s == '-')) neg = *s++ == '-';
  uint64_t m = 0;
  int sig = 0, exp10 = 0, digits = 0;
  while (s < end && (unsigned)(*s - '0') < 10) {
    if (m || *s != '0') {
      if (++sig > 19) return parse_score_slow(p, end, compat, out);
      m = m * 10 + (uint64_t)(*s - '0');
    }
    digits++;
    s++;
  }
  if (s < end && *s == '.') {
    s++;
    while (s < end && (unsigned)(*s - '0') < 10) {
      if (m || *s != '0') {
        if (++sig > 19) return parse_score_slow(p, end, compat, out);
        m = m * 10 + (uint64_t)(*s - '0');
      }
      exp10--;
      digits++;
      s++;
    }
  }
  if (!digits) return parse_score_slow(p, end, compat, out); /* inf, nan, or not a number */
  if (s < end && (*s == 'e' || *s == 'E')) {
    s++;
    int eneg = 0, e = 0, edigits = 0;
    if (s < end && (*s == '+' || *s == '-')) eneg = *s++ == '-';
    while (s < end && (unsigned)(*s - '0') < 10) {
      if (e < 100000) e = e * 10 + (*s - '0');
      edigits++;
      s++;
    }
    if (!edigits) return parse_score_slow(p, end, compat, out);
    exp10 += eneg ? -e : e;
  }
  if (s != end) return parse_score_slow(p, end, compat, out); /* hex floats, trailing text */
  double v;
  if (m == 0) {
    v = 0.0;
  } else if (m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
    v = (double)m;
    v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
  } else if (!extended_path(m, exp10, &v)) {
    return parse_score_slow(p, end, compat, out);
  }
  *out = neg ? -v : v;
  return 0;
}

int trec_parse_int(const char *p, uint32_t n, int compat, long *out) {
  const char *e = p + n;
  int neg = 0;
  if (p < e && (*p == '+' || *p == '-')) neg = *p++ == '-';
  if (p == e && !compat) return -1;
  long v = 0;
  for (; p < e; p++) {
    if ((unsigned)(*p - '0') >= 10) {
      if (compat) break; /* atol: the leading digits */
      return -1;
    }
    if (v > TREC_MAX_GRADE) return -2;
    v = v * 10 + (*p - '0');
  }
  if (v > TREC_MAX_GRADE) return -2;
  *out = neg ? -v : v;
  return 0;
}

int trec_parse_real(const char *p, uint32_t n, int compat, double *out) {
  if (compat) return strtod_span(p, p + n, 0, out);
  if (strtod_span(p, p + n, 1, out) || !isfinite(*out)) return -1;
  return 0;
}

/* ---------------- runs ---------------- */

void trec_run_init(trec_run *r, const char *name) {
  memset(r, 0, sizeof *r);
  r->name = xstrdup(name);
  r->tag = xstrdup("");
}

void trec_run_free(trec_run *r) {
  for (size_t i = 0; i < r->nbufs; i++) trec_buf_free(&r->bufs[i]);
  void *arrays[] = {r->name, r->e, r->topic_begin, r->tag, r->bufs};
  for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) free(arrays[i]);
  memset(r, 0, sizeof *r);
}

static trec_entry *run_push(trec_run *r) {
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 4096;
    r->e = xrealloc(r->e, xmul(r->cap, sizeof *r->e));
  }
  return &r->e[r->n++];
}

static inline int same_bytes(const char *a, const char *b, uint32_t n) {
  /* Docids are short: a byte loop the compiler inlines beats a memcmp call. */
  for (uint32_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

int trec_run_parse_owned(trec_set *s, trec_run *r, trec_buf *b, int compat, char *err,
                         size_t errlen) {
  const char *buf = trec_add_buf(&r->bufs, &r->nbufs, b)->p;
  size_t len = b->len;
  if (r->cap < r->n + len / 24 + 16) {
    /* ~24+ bytes per line in practice: one allocation for the whole run. */
    r->cap = r->n + len / 24 + 16;
    r->e = xrealloc(r->e, xmul(r->cap, sizeof *r->e));
  }
  trec_lines L = {.p = buf, .end = buf + len, .name = r->name, .err = err, .errlen = errlen};
  const char *last_qid = NULL, *last_tag = NULL;
  uint32_t last_qlen = 0, last_topic = 0, last_taglen = 0;
  const char *tok[6];
  uint32_t tl[6];
  int nf, rc;
  while ((rc = trec_next_line(&L, tok, tl, 6, &nf)) > 0) {
    if (nf < 6)
      return trec_line_error(&L, "expected 6 fields (qid Q0 docid rank score tag), got %d", nf);
    double sc;
    if (trec_parse_score(tok[4], tok[4] + tl[4], compat, &sc))
      return trec_line_error(&L, "score '%.*s' is not a finite number (--compat reads it as trec_eval does)",
                             (int)(tl[4] > 40 ? 40 : tl[4]), tok[4]);
    uint32_t t;
    if (last_qid && tl[0] == last_qlen && same_bytes(tok[0], last_qid, last_qlen)) {
      t = last_topic;
    } else {
      t = trec_topic_intern(s, tok[0], tl[0]);
      last_qid = tok[0];
      last_qlen = tl[0];
      last_topic = t;
    }
    trec_entry *e = run_push(r);
    e->docid = tok[2];
    e->docid_len = tl[2];
    e->score = sc;
    e->topic = t;
    last_tag = tok[5];
    last_taglen = tl[5];
  }
  if (rc < 0) return -1;
  if (last_tag) {
    free(r->tag);
    r->tag = xmalloc(last_taglen + 1);
    memcpy(r->tag, last_tag, last_taglen);
    r->tag[last_taglen] = 0;
  }
  return 0;
}

void trec_run_add(trec_set *s, trec_run *r, const char *qid, size_t qlen, const char *docid,
                  size_t dlen, double score, const char *tag, uint64_t line) {
  /* Docids are copied into 1 MiB chunks owned by the run, each behind its
     8-byte record number (read back only for error messages). */
  enum { CHUNK = 1 << 20 };
  size_t need = 8 + dlen + 1;
  char *dst;
  if (need > CHUNK / 4) {
    trec_buf b = {.p = xmalloc(need), .len = need, .chunk = 1};
    dst = trec_add_buf(&r->bufs, &r->nbufs, &b)->p;
    r->chunk_open = 0;
  } else {
    if (!r->chunk_open || r->chunk_used + need > CHUNK) {
      trec_buf b = {.p = xmalloc(CHUNK), .len = CHUNK, .chunk = 1};
      trec_add_buf(&r->bufs, &r->nbufs, &b);
      r->chunk_open = 1;
      r->chunk_used = 0;
    }
    dst = r->bufs[r->nbufs - 1].p + r->chunk_used;
    r->chunk_used += (need + 7) & ~(size_t)7;
  }
  memcpy(dst, &line, 8);
  memcpy(dst + 8, docid, dlen);
  dst[8 + dlen] = 0;
  trec_entry *e = run_push(r);
  e->docid = dst + 8;
  e->docid_len = (uint32_t)dlen;
  e->score = score;
  e->topic = trec_topic_intern(s, qid, qlen);
  if (tag && strcmp(tag, r->tag)) {
    free(r->tag);
    r->tag = xstrdup(tag);
  }
}

void trec_run_entry_place(const trec_run *r, const trec_entry *e, char *buf, size_t n) {
  uint64_t line = trec_run_entry_line(r, e);
  bool from_stream = false;
  for (size_t i = 0; i < r->nbufs; i++)
    if (e->docid >= r->bufs[i].p && e->docid < r->bufs[i].p + r->bufs[i].len) from_stream = r->bufs[i].chunk;
  if (from_stream && line) snprintf(buf, n, "record %llu", (unsigned long long)(line - 1));
  else snprintf(buf, n, "line %llu", (unsigned long long)line);
}

uint64_t trec_run_entry_line(const trec_run *r, const trec_entry *e) {
  for (size_t i = 0; i < r->nbufs; i++) {
    const trec_buf *b = &r->bufs[i];
    if (e->docid < b->p || e->docid >= b->p + b->len) continue;
    if (b->chunk) {
      uint64_t line;
      memcpy(&line, e->docid - 8, 8);
      return line;
    }
    uint64_t line = 1;
    for (const char *p = b->p; p < e->docid; p++) line += *p == '\n';
    return line;
  }
  return 0;
}

int trec_run_finish(const trec_set *s, trec_run *r, char *err, size_t errlen) {
  if (r->n == 0)
    return set_err(err, errlen, "%s: cannot read run: it has no run lines (trec_eval refuses an empty results file)",
                   r->name);
  uint32_t nt = s->ntopics;
  free(r->topic_begin);
  r->topic_begin = xcalloc((size_t)nt + 1, sizeof *r->topic_begin);
  r->ntopics = nt;
  size_t *b = r->topic_begin;
  for (size_t i = 0; i < r->n; i++) b[r->e[i].topic + 1]++;
  for (uint32_t t = 0; t < nt; t++) b[t + 1] += b[t];
  /* Already grouped (the usual case)? Then no copy is needed. */
  int grouped = 1;
  for (size_t i = 1; i < r->n && grouped; i++)
    if (r->e[i].topic != r->e[i - 1].topic && b[r->e[i].topic] != i) grouped = 0;
  if (r->n && b[r->e[0].topic] != 0) grouped = 0;
  if (grouped) return 0;
  trec_entry *g = xmalloc(xmul(r->n, sizeof *g));
  size_t *pos = xmalloc(((size_t)nt + 1) * sizeof *pos);
  memcpy(pos, b, ((size_t)nt + 1) * sizeof *pos);
  for (size_t i = 0; i < r->n; i++) g[pos[r->e[i].topic]++] = r->e[i];
  free(pos);
  free(r->e);
  r->e = g;
  r->cap = r->n;
  return 0;
}

/* ---------------- rankings ---------------- */

/* Ranking order: score descending, then docid descending (qrels) or
   ascending (prefs). */
static inline int rank_before(const trec_entry *a, const trec_entry *b, int asc) {
  if (a->score != b->score) return a->score > b->score;
  int c = trec_docid_cmp(a->docid, a->docid_len, b->docid, b->docid_len);
  return asc ? c < 0 : c > 0;
}

static void insertion_sort(trec_entry *e, size_t n, int asc) {
  for (size_t i = 1; i < n; i++) {
    trec_entry x = e[i];
    size_t j = i;
    while (j > 0 && rank_before(&x, &e[j - 1], asc)) {
      e[j] = e[j - 1];
      j--;
    }
    e[j] = x;
  }
}

/* Merge sort with an inlined comparison: without NaN the order is total (a
   docid occurs once per topic, and duplicates are identical keys), so any
   correct sort gives trec_eval's ranking. */
static void merge_sort(trec_entry *e, trec_entry *tmp, size_t n, int asc) {
  if (n <= 24) {
    insertion_sort(e, n, asc);
    return;
  }
  size_t h = n / 2;
  merge_sort(e, tmp, h, asc);
  merge_sort(e + h, tmp, n - h, asc);
  if (!rank_before(&e[h], &e[h - 1], asc)) return; /* already in order */
  memcpy(tmp, e, h * sizeof *e);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) {
    if (rank_before(&e[j], &tmp[i], asc)) e[k++] = e[j++];
    else e[k++] = tmp[i++];
  }
  while (i < h) e[k++] = tmp[i++];
}

void trec_msort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *, void *),
                void *ctx) {
  if (n <= 1) return;
  size_t n1 = n / 2, n2 = n - n1;
  char *b1 = base, *b2 = (char *)base + n1 * size;
  trec_msort(b1, n1, size, cmp, ctx);
  trec_msort(b2, n2, size, cmp, ctx);
  char *tmp = xmalloc(xmul(n, size)), *t = tmp;
  while (n1 > 0 && n2 > 0) {
    if (cmp(b1, b2, ctx) <= 0) {
      memcpy(t, b1, size);
      b1 += size;
      n1--;
    } else {
      memcpy(t, b2, size);
      b2 += size;
      n2--;
    }
    t += size;
  }
  if (n1 > 0) memcpy(t, b1, n1 * size);
  memcpy(base, tmp, (n - n2) * size);
  free(tmp);
}

static int cmp_docid_asc(const void *a, const void *b, void *ctx) {
  const trec_entry *x = a, *y = b;
  return trec_docid_cmp(x->docid, x->docid_len, y->docid, y->docid_len);
}

/* trec_eval's comparators, NaN and all: "greater", "less", else docids. */
static int cmp_sim_docid(const void *a, const void *b, void *ctx) {
  const trec_entry *x = a, *y = b;
  if (x->score > y->score) return -1;
  if (x->score < y->score) return 1;
  int c = trec_docid_cmp(x->docid, x->docid_len, y->docid, y->docid_len);
  return *(const int *)ctx ? c : -c;
}

void trec_sort_ranking(trec_entry *e, size_t n, trec_ties ties) {
  int asc = ties == TREC_TIES_ASC;
  for (size_t i = 0; i < n; i++)
    if (isnan(e[i].score)) {
      /* As trec_eval: its lines come sorted by docid, then its qsort runs. */
      trec_msort(e, n, sizeof *e, cmp_docid_asc, NULL);
      trec_msort(e, n, sizeof *e, cmp_sim_docid, &asc);
      return;
    }
  if (n < 2) return;
  if (n <= 24) {
    insertion_sort(e, n, asc);
    return;
  }
  trec_entry *tmp = xmalloc(xmul(n / 2 + 1, sizeof *tmp));
  merge_sort(e, tmp, n, asc);
  free(tmp);
}
