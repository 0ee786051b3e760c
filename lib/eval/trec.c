/* trec.c: parsing TREC qrels and runs (see trec.h).
 *
 * Speed matters here because trec_eval spends nearly all its time parsing:
 * a file is read whole into one buffer, tokens are scanned with a byte-class
 * table, docids are never copied, the qid of the previous line is reused
 * when it repeats (runs list a topic's documents together), and scores take
 * an exact fast path (Clinger: a mantissa below 2^53 times or divided by an
 * exact power of ten up to 1e22 is correctly rounded) before strtod.
 */
#include "eval/trec.h"

#include <stdbool.h>

#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/cli.h"

#define EMPTY_SLOT UINT32_MAX

static uint64_t hash_bytes(const char *p, size_t n, uint64_t seed) {
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

int trec_docid_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen) {
  uint32_t n = alen < blen ? alen : blen;
  int c = memcmp(a, b, n);
  if (c) return c;
  return (alen > blen) - (alen < blen);
}

static trec_buf *add_buf(trec_buf **bufs, size_t *n, const trec_buf *b) {
  *bufs = xrealloc(*bufs, (*n + 1) * sizeof **bufs);
  (*bufs)[*n] = *b;
  return &(*bufs)[(*n)++];
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
  free(s->topic);
  free(s->slot);
  free(s->judged);
  free(s->jtopic);
  free(s->jline);
  free(s->qrels_order);
  free(s->qrels_name);
  for (size_t i = 0; i < s->nbufs; i++) trec_buf_free(&s->bufs[i]);
  free(s->bufs);
  memset(s, 0, sizeof *s);
}

static void topic_rehash(trec_set *s, uint32_t nslots) {
  free(s->slot);
  s->slot = xmalloc(xmul(nslots, sizeof *s->slot));
  memset(s->slot, 0xff, (size_t)nslots * sizeof *s->slot);
  s->nslots = nslots;
  for (uint32_t t = 0; t < s->ntopics; t++) {
    uint32_t h = (uint32_t)hash_bytes(s->topic[t].qid, s->topic[t].qid_len, 1) & (nslots - 1);
    while (s->slot[h] != EMPTY_SLOT) h = (h + 1) & (nslots - 1);
    s->slot[h] = t;
  }
}

uint32_t trec_topic_find(const trec_set *s, const char *qid, size_t len) {
  if (!s->nslots) return UINT32_MAX;
  uint32_t h = (uint32_t)hash_bytes(qid, len, 1) & (s->nslots - 1);
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
  if (len > UINT32_MAX / 2) die("qid too long");
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
  tp->qid_len = (uint32_t)len;
  tp->max_grade = -1;
  if ((uint64_t)s->ntopics * 2 > s->nslots) {
    topic_rehash(s, s->nslots ? 2 * s->nslots : 256);
  } else {
    uint32_t h = (uint32_t)hash_bytes(qid, len, 1) & (s->nslots - 1);
    while (s->slot[h] != EMPTY_SLOT) h = (h + 1) & (s->nslots - 1);
    s->slot[h] = t;
  }
  return t;
}

/* ---------------- reading ---------------- */

int trec_read_file(const char *path, trec_buf *b, char *err, size_t errlen) {
  memset(b, 0, sizeof *b);
  int fd = strcmp(path, "-") ? open(path, O_RDONLY) : 0;
  if (fd < 0) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
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

/* Byte classes for the tokenizer: token bytes, blanks, and line ends. */
enum { C_TOK = 0, C_BLANK = 1, C_EOL = 2 };
static const unsigned char byte_class[256] = {
    [0] = C_EOL, ['\n'] = C_EOL, [' '] = C_BLANK, ['\t'] = C_BLANK,
    ['\r'] = C_BLANK, ['\v'] = C_BLANK, ['\f'] = C_BLANK,
};

/* Split one line into up to maxf tokens; returns the number of tokens found
 * (counting beyond maxf), and sets *next to the start of the next line. */
static int split_line(const char *p, const char **tok, uint32_t *tlen, int maxf, const char **next) {
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

/* Past the NUL at the end of a line (p at '\n' or the terminating NUL). */
static int at_line_end(const char *p, const char *end, const char **next) {
  if (*p == '\n') {
    *next = p + 1;
    return 1;
  }
  if (p >= end) {
    *next = p;
    return 1;
  }
  return 0; /* an embedded NUL byte */
}

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

static int parse_score_slow(const char *p, const char *end, double *out) {
  char small[128], *tmp = small;
  size_t n = (size_t)(end - p);
  if (n == 0) return -1;
  if (n >= sizeof small) tmp = xmalloc(n + 1);
  memcpy(tmp, p, n);
  tmp[n] = 0;
  char *stop;
  errno = 0;
  double v = strtod(tmp, &stop);
  int ok = stop == tmp + n && !isnan(v);
  if (tmp != small) free(tmp);
  if (!ok) return -1;
  *out = v;
  return 0;
}

int trec_parse_score(const char *p, const char *end, double *out) {
  const char *s = p;
  int neg = 0;
  if (s < end && (*s == '+' || *s == '-')) neg = *s++ == '-';
  uint64_t m = 0;
  int sig = 0, exp10 = 0, digits = 0;
  while (s < end && (unsigned)(*s - '0') < 10) {
    if (m || *s != '0') {
      if (++sig > 19) return parse_score_slow(p, end, out);
      m = m * 10 + (uint64_t)(*s - '0');
    }
    digits++;
    s++;
  }
  if (s < end && *s == '.') {
    s++;
    while (s < end && (unsigned)(*s - '0') < 10) {
      if (m || *s != '0') {
        if (++sig > 19) return parse_score_slow(p, end, out);
        m = m * 10 + (uint64_t)(*s - '0');
      }
      exp10--;
      digits++;
      s++;
    }
  }
  if (!digits) return parse_score_slow(p, end, out); /* inf, nan, or not a number */
  if (s < end && (*s == 'e' || *s == 'E')) {
    s++;
    int eneg = 0, e = 0, edigits = 0;
    if (s < end && (*s == '+' || *s == '-')) eneg = *s++ == '-';
    while (s < end && (unsigned)(*s - '0') < 10) {
      if (e < 100000) e = e * 10 + (*s - '0');
      edigits++;
      s++;
    }
    if (!edigits) return -1;
    exp10 += eneg ? -e : e;
  }
  if (s != end) return parse_score_slow(p, end, out); /* hex floats and the like */
  double v;
  if (m == 0) {
    v = 0.0;
  } else if (m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
    v = (double)m;
    v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
  } else if (!extended_path(m, exp10, &v)) {
    return parse_score_slow(p, end, out);
  }
  *out = neg ? -v : v;
  return 0;
}

/* ---------------- qrels ---------------- */

static int parse_grade(const char *p, uint32_t n, int32_t *out) {
  const char *e = p + n;
  int neg = 0;
  if (p < e && (*p == '+' || *p == '-')) neg = *p++ == '-';
  if (p == e) return -1;
  int64_t v = 0;
  for (; p < e; p++) {
    if ((unsigned)(*p - '0') >= 10) return -1;
    v = v * 10 + (*p - '0');
    if (v > 1000000) return -2;
  }
  *out = (int32_t)(neg ? -v : v);
  return 0;
}

uint64_t trec_hash_docid(const char *docid, size_t len) { return hash_bytes(docid, len, 7); }

typedef struct {
  const char *qid;
  uint32_t len, topic;
} qid_ref;

static int cmp_qid_ref(const void *a, const void *b) {
  const qid_ref *x = a, *y = b;
  return trec_docid_cmp(x->qid, x->len, y->qid, y->len);
}

static int qrels_parse_owned(trec_set *s, trec_buf *b, const char *name, char *err, size_t errlen);

int trec_qrels_parse(trec_set *s, const char *src, size_t len, const char *name, char *err,
                     size_t errlen) {
  trec_buf copy = {.p = xmalloc(len + 1), .len = len};
  memcpy(copy.p, src, len);
  copy.p[len] = 0;
  return qrels_parse_owned(s, &copy, name, err, errlen);
}

static int qrels_parse_owned(trec_set *s, trec_buf *b, const char *name, char *err, size_t errlen) {
  const char *buf = add_buf(&s->bufs, &s->nbufs, b)->p;
  size_t len = b->len;
  free(s->qrels_name);
  s->qrels_name = xstrdup(name);
  const char *p = buf, *end = buf + len;
  uint64_t line = 0;
  while (p < end) {
    line++;
    const char *tok[4];
    uint32_t tl[4];
    const char *q;
    int nf = split_line(p, tok, tl, 4, &q);
    if (!at_line_end(q, end, &p)) {
      set_err(err, errlen, "%s: line %llu: NUL byte", name, (unsigned long long)line);
      return -1;
    }
    if (nf == 0 || tok[0][0] == '#') continue;
    if (nf != 4) {
      set_err(err, errlen, "%s: line %llu: expected 4 fields (qid iter docid grade), got %d",
              name, (unsigned long long)line, nf);
      return -1;
    }
    int32_t g;
    int rc = parse_grade(tok[3], tl[3], &g);
    if (rc) {
      set_err(err, errlen, "%s: line %llu: grade '%.*s' is %s", name, (unsigned long long)line,
              (int)(tl[3] > 40 ? 40 : tl[3]), tok[3],
              rc == -2 ? "out of range (|grade| <= 1000000)" : "not an integer");
      return -1;
    }
    uint32_t t = trec_topic_intern(s, tok[0], tl[0]);
    if (s->njudged == s->judged_cap) {
      s->judged_cap = s->judged_cap ? 2 * s->judged_cap : 1024;
      s->judged = xrealloc(s->judged, xmul(s->judged_cap, sizeof *s->judged));
      s->jtopic = xrealloc(s->jtopic, xmul(s->judged_cap, sizeof *s->jtopic));
      s->jline = xrealloc(s->jline, xmul(s->judged_cap, sizeof *s->jline));
    }
    trec_judgement *j = &s->judged[s->njudged];
    j->docid = tok[2];
    j->docid_len = tl[2];
    j->hash = hash_bytes(tok[2], tl[2], 7);
    j->grade = g < 0 ? TREC_UNJUDGED : g;
    s->jtopic[s->njudged] = t;
    s->jline[s->njudged] = line;
    s->njudged++;
    s->topic[t].in_qrels = 1;
    if (g > s->topic[t].max_grade) s->topic[t].max_grade = g;
  }

  /* Group by topic (counting sort, file order within a topic), and find
     docids judged twice with each topic's hash index. */
  uint32_t nt = s->ntopics;
  size_t *cnt = xcalloc((size_t)nt + 1, sizeof *cnt);
  for (size_t i = 0; i < s->njudged; i++) cnt[s->jtopic[i] + 1]++;
  for (uint32_t t = 0; t < nt; t++) cnt[t + 1] += cnt[t];
  trec_judgement *g = xmalloc(xmul(s->njudged ? s->njudged : 1, sizeof *g));
  size_t *pos = xmalloc(((size_t)nt + 1) * sizeof *pos);
  memcpy(pos, cnt, ((size_t)nt + 1) * sizeof *pos);
  for (size_t i = 0; i < s->njudged; i++) {
    size_t k = pos[s->jtopic[i]]++;
    g[k] = s->judged[i];
  }
  free(pos);
  for (uint32_t t = 0; t < nt; t++) {
    trec_topic *tp = &s->topic[t];
    tp->judged_begin = (uint32_t)cnt[t];
    tp->judged_n = (uint32_t)(cnt[t + 1] - cnt[t]);
  }
  trec_judgement *ungrouped = s->judged;
  s->judged = g;
  trec_judged_index ix = {0};
  for (uint32_t t = 0; t < nt; t++) {
    const trec_topic *tp = &s->topic[t];
    long d = trec_judged_index_build(&ix, s, t);
    if (d < 0) continue;
    const trec_judgement *dj = &g[tp->judged_begin + (size_t)d];
    /* The two lines, in file order, for the message. */
    uint64_t l1 = 0, l2 = 0;
    for (size_t k = 0; k < s->njudged; k++) {
      if (s->jtopic[k] == t && ungrouped[k].docid_len == dj->docid_len &&
          !memcmp(ungrouped[k].docid, dj->docid, dj->docid_len)) {
        if (!l1) l1 = s->jline[k];
        else if (!l2) l2 = s->jline[k];
      }
    }
    set_err(err, errlen, "%s: line %llu: docid '%.*s' already judged for topic '%s' (line %llu)",
            name, (unsigned long long)l2, (int)(dj->docid_len > 80 ? 80 : dj->docid_len),
            dj->docid, tp->qid, (unsigned long long)l1);
    trec_judged_index_free(&ix);
    s->judged = ungrouped;
    free(g);
    free(cnt);
    return -1;
  }
  trec_judged_index_free(&ix);
  free(ungrouped);
  free(cnt);
  s->judged_cap = s->njudged;
  free(s->jtopic);
  free(s->jline);
  s->jtopic = NULL;
  s->jline = NULL;

  /* Evaluation order: qrels topics in strcmp order of qid. */
  free(s->qrels_order);
  s->qrels_order = xmalloc(((size_t)nt + 1) * sizeof *s->qrels_order);
  s->nqrels_topics = 0;
  for (uint32_t t = 0; t < nt; t++)
    if (s->topic[t].in_qrels) s->qrels_order[s->nqrels_topics++] = t;
  qid_ref *refs = xmalloc(((size_t)s->nqrels_topics + 1) * sizeof *refs);
  for (uint32_t i = 0; i < s->nqrels_topics; i++) {
    const trec_topic *tp = &s->topic[s->qrels_order[i]];
    refs[i] = (qid_ref){tp->qid, tp->qid_len, s->qrels_order[i]};
  }
  qsort(refs, s->nqrels_topics, sizeof *refs, cmp_qid_ref);
  for (uint32_t i = 0; i < s->nqrels_topics; i++) s->qrels_order[i] = refs[i].topic;
  free(refs);
  return 0;
}

int trec_qrels_load(trec_set *s, const char *path, char *err, size_t errlen) {
  trec_buf b;
  if (trec_read_file(path, &b, err, errlen)) return -1;
  return qrels_parse_owned(s, &b, path, err, errlen);
}

int32_t trec_grade(const trec_set *s, uint32_t topic, const char *docid, size_t len) {
  if (topic >= s->ntopics) return TREC_NONPOOL;
  const trec_topic *tp = &s->topic[topic];
  for (uint32_t i = 0; i < tp->judged_n; i++) {
    const trec_judgement *j = &s->judged[tp->judged_begin + i];
    if (j->docid_len == len && !memcmp(j->docid, docid, len)) return j->grade;
  }
  return TREC_NONPOOL;
}

static inline int same_bytes(const char *a, const char *b, uint32_t n) {
  /* Docids are short: a byte loop the compiler inlines beats a memcmp call. */
  for (uint32_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

long trec_judged_index_build(trec_judged_index *ix, const trec_set *s, uint32_t topic) {
  const trec_topic *tp = &s->topic[topic];
  size_t cap = 16;
  while (cap < 2 * (size_t)tp->judged_n) cap *= 2;
  if (cap > ix->cap || !ix->slot) {
    free(ix->slot);
    ix->slot = xmalloc(xmul(cap, sizeof *ix->slot));
  }
  ix->cap = cap;
  memset(ix->slot, 0, cap * sizeof *ix->slot);
  ix->j = s->judged + tp->judged_begin;
  for (uint32_t i = 0; i < tp->judged_n; i++) {
    const trec_judgement *ji = &ix->j[i];
    uint64_t h = ji->hash, tag = h & 0xffffffff00000000ULL;
    size_t k = h & (cap - 1);
    while (ix->slot[k]) {
      uint64_t v = ix->slot[k];
      if ((v & 0xffffffff00000000ULL) == tag) {
        const trec_judgement *o = &ix->j[(uint32_t)v - 1];
        if (o->docid_len == ji->docid_len && same_bytes(o->docid, ji->docid, o->docid_len))
          return (long)i;
      }
      k = (k + 1) & (cap - 1);
    }
    ix->slot[k] = tag | (i + 1);
  }
  return -1;
}

int32_t trec_judged_index_grade(const trec_judged_index *ix, const char *docid, uint32_t len,
                                uint64_t h) {
  uint64_t tag = h & 0xffffffff00000000ULL;
  size_t mask = ix->cap - 1, k = h & mask;
  for (;;) {
    uint64_t v = ix->slot[k];
    if (!v) return TREC_NONPOOL;
    if ((v & 0xffffffff00000000ULL) == tag) {
      const trec_judgement *j = &ix->j[(uint32_t)v - 1];
      if (j->docid_len == len && same_bytes(j->docid, docid, len)) return j->grade;
    }
    k = (k + 1) & mask;
  }
}

void trec_judged_index_free(trec_judged_index *ix) {
  free(ix->slot);
  memset(ix, 0, sizeof *ix);
}

/* ---------------- runs ---------------- */

void trec_run_init(trec_run *r, const char *name) {
  memset(r, 0, sizeof *r);
  r->name = xstrdup(name);
  r->tag = xstrdup("");
}

void trec_run_free(trec_run *r) {
  free(r->name);
  free(r->e);
  free(r->topic_begin);
  free(r->tag);
  for (size_t i = 0; i < r->nbufs; i++) trec_buf_free(&r->bufs[i]);
  free(r->bufs);
  memset(r, 0, sizeof *r);
}

static trec_entry *run_push(trec_run *r) {
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 4096;
    r->e = xrealloc(r->e, xmul(r->cap, sizeof *r->e));
  }
  return &r->e[r->n++];
}

int trec_run_parse_owned(trec_set *s, trec_run *r, trec_buf *b, char *err, size_t errlen) {
  const char *buf = add_buf(&r->bufs, &r->nbufs, b)->p;
  size_t len = b->len;
  if (r->cap < r->n + len / 24 + 16) {
    /* ~24+ bytes per line in practice: one allocation for the whole run. */
    r->cap = r->n + len / 24 + 16;
    r->e = xrealloc(r->e, xmul(r->cap, sizeof *r->e));
  }
  const char *p = buf, *end = buf + len;
  const char *last_qid = NULL, *last_tag = NULL;
  uint32_t last_qlen = 0, last_topic = 0, last_taglen = 0;
  uint64_t line = 0;
  while (p < end) {
    line++;
    const char *tok[6];
    uint32_t tl[6];
    const char *q;
    int nf = split_line(p, tok, tl, 6, &q);
    if (!at_line_end(q, end, &p)) {
      set_err(err, errlen, "%s: line %llu: NUL byte", r->name, (unsigned long long)line);
      return -1;
    }
    if (nf == 0 || tok[0][0] == '#') continue;
    if (nf < 6) {
      set_err(err, errlen,
              "%s: line %llu: expected 6 fields (qid Q0 docid rank score tag), got %d", r->name,
              (unsigned long long)line, nf);
      return -1;
    }
    double sc;
    if (trec_parse_score(tok[4], tok[4] + tl[4], &sc)) {
      set_err(err, errlen, "%s: line %llu: score '%.*s' is not a number", r->name,
              (unsigned long long)line, (int)(tl[4] > 40 ? 40 : tl[4]), tok[4]);
      return -1;
    }
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
    dst = add_buf(&r->bufs, &r->nbufs, &b)->p;
    r->chunk_open = 0;
  } else {
    if (!r->chunk_open || r->chunk_used + need > CHUNK) {
      trec_buf b = {.p = xmalloc(CHUNK), .len = CHUNK, .chunk = 1};
      add_buf(&r->bufs, &r->nbufs, &b);
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

void trec_run_finish(const trec_set *s, trec_run *r) {
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
  if (grouped) return;
  trec_entry *g = xmalloc(xmul(r->n ? r->n : 1, sizeof *g));
  size_t *pos = xmalloc(((size_t)nt + 1) * sizeof *pos);
  memcpy(pos, b, ((size_t)nt + 1) * sizeof *pos);
  for (size_t i = 0; i < r->n; i++) g[pos[r->e[i].topic]++] = r->e[i];
  free(pos);
  free(r->e);
  r->e = g;
  r->cap = r->n;
}

/* Ranking order: score descending, then docid descending (strcmp). */
static inline int rank_before(const trec_entry *a, const trec_entry *b) {
  if (a->score != b->score) return a->score > b->score;
  return trec_docid_cmp(a->docid, a->docid_len, b->docid, b->docid_len) > 0;
}

static void insertion_sort(trec_entry *e, size_t n) {
  for (size_t i = 1; i < n; i++) {
    trec_entry x = e[i];
    size_t j = i;
    while (j > 0 && rank_before(&x, &e[j - 1])) {
      e[j] = e[j - 1];
      j--;
    }
    e[j] = x;
  }
}

/* Merge sort with an inlined comparison: the order is total (a docid occurs
   once per topic, and duplicates are identical keys), so any correct sort
   gives trec_eval's ranking. */
static void merge_sort(trec_entry *e, trec_entry *tmp, size_t n) {
  if (n <= 24) {
    insertion_sort(e, n);
    return;
  }
  size_t h = n / 2;
  merge_sort(e, tmp, h);
  merge_sort(e + h, tmp, n - h);
  if (!rank_before(&e[h], &e[h - 1])) return; /* already in order */
  memcpy(tmp, e, h * sizeof *e);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) {
    if (rank_before(&e[j], &tmp[i])) e[k++] = e[j++];
    else e[k++] = tmp[i++];
  }
  while (i < h) e[k++] = tmp[i++];
}

void trec_sort_ranking(trec_entry *e, size_t n) {
  if (n < 2) return;
  if (n <= 24) {
    insertion_sort(e, n);
    return;
  }
  trec_entry *tmp = xmalloc(xmul(n / 2 + 1, sizeof *tmp));
  merge_sort(e, tmp, n);
  free(tmp);
}
