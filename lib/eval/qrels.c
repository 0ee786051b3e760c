/* qrels.c: relevance information in trec_eval's four formats (see trec.h).
 *
 * qrels and qrels_jg become judgement sets (trec_jg): per topic one set
 * (qrels) or one per jg field in strcmp order (qrels_jg), each with a hash
 * index built on demand. prefs and qrels_prefs stay lines (trec_pref),
 * grouped by topic and sorted by docid as trec_eval keeps them (file order
 * among equal docids); lib/eval/prefs.c turns them into preferences.
 */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/trec.h"
#include "eval/trec_lines.h"

const char *const trec_format_names[] = {"qrels", "qrels_jg", "prefs", "qrels_prefs", NULL};

typedef struct {
  trec_judgement j;
  const char *jg;
  uint32_t jg_len, topic;
  uint64_t line;
} loading;

static int cmp_qid(const void *a, const void *b, void *ctx) {
  const trec_set *s = ctx;
  const trec_topic *x = &s->topic[*(const uint32_t *)a], *y = &s->topic[*(const uint32_t *)b];
  return trec_docid_cmp(x->qid, x->qid_len, y->qid, y->qid_len);
}

static int cmp_jg(const void *a, const void *b, void *ctx) {
  const loading *x = a, *y = b;
  return trec_docid_cmp(x->jg, x->jg_len, y->jg, y->jg_len);
}

static int cmp_pref_docid(const void *a, const void *b, void *ctx) {
  const trec_pref *x = a, *y = b;
  return trec_docid_cmp(x->docid, x->docid_len, y->docid, y->docid_len);
}

/* Room for one more line (items of sz bytes) and its topic. */
static void *push_line(void *items, size_t sz, uint32_t **topic_of, size_t n, size_t *cap) {
  if (n < *cap) return items;
  *cap = *cap ? 2 * *cap : 1024;
  *topic_of = xrealloc(*topic_of, xmul(*cap, sizeof **topic_of));
  return xrealloc(items, xmul(*cap, sz));
}

/* Counting sort of n items of size sz by topic (file order within a topic);
   begin[t]..begin[t+1] is topic t's range afterwards. */
static void *group_by_topic(const void *items, size_t n, size_t sz, const uint32_t *topic_of,
                            uint32_t nt, size_t *begin) {
  memset(begin, 0, ((size_t)nt + 1) * sizeof *begin);
  for (size_t i = 0; i < n; i++) begin[topic_of[i] + 1]++;
  for (uint32_t t = 0; t < nt; t++) begin[t + 1] += begin[t];
  size_t *pos = xmalloc(((size_t)nt + 1) * sizeof *pos);
  memcpy(pos, begin, ((size_t)nt + 1) * sizeof *pos);
  char *out = xmalloc(xmul(n ? n : 1, sz));
  for (size_t i = 0; i < n; i++) memcpy(out + pos[topic_of[i]]++ * sz, (const char *)items + i * sz, sz);
  free(pos);
  return out;
}

/* The lines read (none on an error), grouped by topic, with their ranges in
   *begin; NULL when there are none. raw and topic_of are freed. */
static void *group_lines(trec_set *s, void *raw, uint32_t *topic_of, size_t n, size_t sz, size_t **begin) {
  void *g = NULL;
  if (n) {
    *begin = xmalloc(((size_t)s->ntopics + 1) * sizeof **begin);
    g = group_by_topic(raw, n, sz, topic_of, s->ntopics, *begin);
  }
  free(raw);
  free(topic_of);
  return g;
}

static void order_topics(trec_set *s) {
  free(s->qrels_order);
  s->qrels_order = xmalloc(((size_t)s->ntopics + 1) * sizeof *s->qrels_order);
  s->nqrels_topics = 0;
  for (uint32_t t = 0; t < s->ntopics; t++)
    if (s->topic[t].in_qrels) s->qrels_order[s->nqrels_topics++] = t;
  trec_msort(s->qrels_order, s->nqrels_topics, sizeof *s->qrels_order, cmp_qid, s);
}

/* The judgement sets of every topic from its judgements (grouped by topic,
   by jg within a topic for qrels_jg); a docid twice in one set is an error. */
static int build_sets(trec_set *s, loading *g, const size_t *begin, const char *name, char *err,
                      size_t errlen) {
  int by_jg = s->format == TREC_QRELS_JG;
  s->judged = xmalloc(xmul(s->njudged ? s->njudged : 1, sizeof *s->judged));
  for (size_t i = 0; i < s->njudged; i++) s->judged[i] = g[i].j;
  s->jg = NULL;
  s->njg = 0;
  size_t cap = 0;
  trec_judged_index ix = {0};
  for (uint32_t t = 0; t < s->ntopics; t++) {
    trec_topic *tp = &s->topic[t];
    tp->jg_begin = s->njg;
    for (size_t i = begin[t]; i < begin[t + 1];) {
      size_t e = i + 1;
      while (by_jg && e < begin[t + 1] && !cmp_jg(&g[e], &g[i], NULL)) e++;
      if (!by_jg) e = begin[t + 1];
      if (s->njg == cap) s->jg = xrealloc(s->jg, xmul(cap = cap ? 2 * cap : 64, sizeof *s->jg));
      trec_jg *jg = &s->jg[s->njg++];
      *jg = (trec_jg){.name = by_jg ? g[i].jg : tp->qid, .name_len = by_jg ? g[i].jg_len : tp->qid_len,
                      .judged_begin = (uint32_t)i, .judged_n = (uint32_t)(e - i), .max_grade = INT32_MIN};
      for (size_t k = i; k < e; k++) {
        int32_t gr = g[k].j.grade;
        if (gr > jg->max_grade) jg->max_grade = gr;
        if (gr > 0) tp->num_rel_pos++;
        if (gr < 0) s->judged[k].grade = TREC_UNJUDGED;
      }
      long d = trec_judged_index_build(&ix, s, s->njg - 1);
      if (d >= 0) {
        const loading *dup = &g[i + (size_t)d], *first = NULL;
        for (size_t k = i; k < e && !first; k++)
          if (g[k].j.docid_len == dup->j.docid_len && !memcmp(g[k].j.docid, dup->j.docid, dup->j.docid_len))
            first = &g[k];
        set_err(err, errlen, "%s: line %llu: docid '%.*s' already judged for topic '%s'%s%.*s%s (line %llu)",
                name, (unsigned long long)dup->line, (int)(dup->j.docid_len > 80 ? 80 : dup->j.docid_len),
                dup->j.docid, tp->qid, by_jg ? " in judgement group '" : "", by_jg ? (int)jg->name_len : 0,
                jg->name, by_jg ? "'" : "", (unsigned long long)first->line);
        trec_judged_index_free(&ix);
        return -1;
      }
      i = e;
    }
    tp->jg_n = s->njg - tp->jg_begin;
  }
  trec_judged_index_free(&ix);
  return 0;
}

static int parse_judgements(trec_set *s, trec_lines *L, int compat) {
  static const char *const expect[] = {"4 fields (qid iter docid grade)", "4 fields (qid jg docid grade)"};
  loading *raw = NULL;
  uint32_t *topic_of = NULL;
  size_t n = 0, cap = 0;
  const char *tok[4];
  uint32_t tl[4];
  int nf, rc;
  while ((rc = trec_next_line(L, tok, tl, 4, &nf)) > 0) {
    if (nf != 4) {
      rc = trec_line_error(L, "expected %s, got %d", expect[s->format == TREC_QRELS_JG], nf);
      break;
    }
    long gr;
    int pr = trec_parse_int(tok[3], tl[3], compat, &gr);
    if (pr) {
      rc = trec_line_error(L, "grade '%.*s' is %s", (int)(tl[3] > 40 ? 40 : tl[3]), tok[3],
                           pr == -2 ? "out of range (|grade| <= 1000000)"
                                    : "not an integer (--compat reads it as trec_eval's atol does)");
      break;
    }
    raw = push_line(raw, sizeof *raw, &topic_of, n, &cap);
    uint32_t t = trec_topic_intern(s, tok[0], tl[0]);
    s->topic[t].in_qrels = 1;
    raw[n] = (loading){.j = {.docid = tok[2], .docid_len = tl[2], .hash = trec_hash_docid(tok[2], tl[2]),
                             .grade = (int32_t)gr},
                       .jg = tok[1], .jg_len = tl[1], .topic = t, .line = L->line};
    topic_of[n++] = t;
  }
  size_t *begin;
  loading *g = group_lines(s, raw, topic_of, rc < 0 ? 0 : n, sizeof *raw, &begin);
  if (!g) return rc < 0 ? -1 : 1;
  if (s->format == TREC_QRELS_JG)
    for (uint32_t t = 0; t < s->ntopics; t++) trec_msort(g + begin[t], begin[t + 1] - begin[t], sizeof *g, cmp_jg, NULL);
  s->njudged = n;
  rc = build_sets(s, g, begin, L->name, L->err, L->errlen);
  free(g);
  free(begin);
  return rc;
}

/* The same loop as parse_judgements (its declarations alike): other fields,
   another record, kept apart for the fast path of plain qrels. */
static int parse_prefs(trec_set *s, trec_lines *L, int compat) {
  int five = s->format == TREC_PREFS;
  trec_pref *raw = NULL;
  uint32_t *topic_of = NULL;
  size_t n = 0, cap = 0;
  const char *tok[5];
  uint32_t tl[5];
  int nf, rc;
  while ((rc = trec_next_line(L, tok, tl, 5, &nf)) > 0) {
    if (nf != 4 + five) {
      rc = trec_line_error(L, "expected %s, got %d",
                           five ? "5 fields (qid jg jsg docid rel_level)" : "4 fields (qid jg docid rel_level)", nf);
      break;
    }
    double rel;
    if (trec_parse_real(tok[3 + five], tl[3 + five], compat, &rel)) {
      rc = trec_line_error(L, "rel_level '%.*s' is not a finite number (--compat reads it as trec_eval does)",
                           (int)(tl[3 + five] > 40 ? 40 : tl[3 + five]), tok[3 + five]);
      break;
    }
    raw = push_line(raw, sizeof *raw, &topic_of, n, &cap);
    uint32_t t = trec_topic_intern(s, tok[0], tl[0]);
    s->topic[t].in_qrels = 1;
    raw[n] = (trec_pref){.jg = tok[1], .jg_len = tl[1], .jsg = five ? tok[2] : "0", .jsg_len = five ? tl[2] : 1,
                         .docid = tok[2 + five], .docid_len = tl[2 + five], .rel = rel};
    topic_of[n++] = t;
  }
  size_t *begin;
  if (!(s->pref = group_lines(s, raw, topic_of, rc < 0 ? 0 : n, sizeof *raw, &begin))) return rc < 0 ? -1 : 1;
  s->npref = n;
  for (uint32_t t = 0; t < s->ntopics; t++) {
    s->topic[t].pref_begin = (uint32_t)begin[t];
    s->topic[t].pref_n = (uint32_t)(begin[t + 1] - begin[t]);
    trec_msort(s->pref + begin[t], begin[t + 1] - begin[t], sizeof *s->pref, cmp_pref_docid, NULL);
  }
  free(begin);
  return 0;
}

static int relinfo_parse_owned(trec_set *s, trec_buf *b, const char *name, trec_format fmt,
                               int compat, char *err, size_t errlen) {
  const char *buf = trec_add_buf(&s->bufs, &s->nbufs, b)->p;
  free(s->qrels_name);
  s->qrels_name = xstrdup(name);
  s->format = fmt;
  trec_lines L = {.p = buf, .end = buf + b->len, .name = name, .err = err, .errlen = errlen};
  int rc = fmt == TREC_QRELS || fmt == TREC_QRELS_JG ? parse_judgements(s, &L, compat) : parse_prefs(s, &L, compat);
  if (rc > 0)
    return set_err(err, errlen, "%s: cannot read %s file: it has no judgement lines", name,
                   trec_format_names[fmt]);
  if (rc < 0) return -1;
  order_topics(s);
  return 0;
}

int trec_relinfo_parse(trec_set *s, const char *src, size_t len, const char *name, trec_format fmt,
                       int compat, char *err, size_t errlen) {
  trec_buf copy = {.p = xmalloc(len + 1), .len = len};
  memcpy(copy.p, src, len);
  copy.p[len] = 0;
  return relinfo_parse_owned(s, &copy, name, fmt, compat, err, errlen);
}

int trec_relinfo_load(trec_set *s, const char *path, trec_format fmt, int compat, char *err,
                      size_t errlen) {
  trec_buf b;
  if (trec_read_file(path, &b, err, errlen)) return -1;
  return relinfo_parse_owned(s, &b, path, fmt, compat, err, errlen);
}

int32_t trec_grade(const trec_set *s, uint32_t topic, const char *docid, size_t len) {
  if (topic >= s->ntopics || !s->topic[topic].jg_n) return TREC_NONPOOL;
  const trec_jg *jg = &s->jg[s->topic[topic].jg_begin];
  for (uint32_t i = 0; i < jg->judged_n; i++) {
    const trec_judgement *j = &s->judged[jg->judged_begin + i];
    if (j->docid_len == len && !memcmp(j->docid, docid, len)) return j->grade;
  }
  return TREC_NONPOOL;
}

static inline int same_bytes(const char *a, const char *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

long trec_judged_index_build(trec_judged_index *ix, const trec_set *s, uint32_t jgi) {
  const trec_jg *jg = &s->jg[jgi];
  size_t cap = 16;
  while (cap < 2 * (size_t)jg->judged_n) cap *= 2;
  if (cap > ix->cap || !ix->slot) {
    free(ix->slot);
    ix->slot = xmalloc(xmul(cap, sizeof *ix->slot));
  }
  ix->cap = cap;
  memset(ix->slot, 0, cap * sizeof *ix->slot);
  ix->j = s->judged + jg->judged_begin;
  for (uint32_t i = 0; i < jg->judged_n; i++) {
    const trec_judgement *ji = &ix->j[i];
    uint64_t h = ji->hash, tag = h & 0xffffffff00000000ULL;
    size_t k = h & (cap - 1);
    while (ix->slot[k]) {
      uint64_t v = ix->slot[k];
      if ((v & 0xffffffff00000000ULL) == tag) {
        const trec_judgement *o = &ix->j[(uint32_t)v - 1];
        if (o->docid_len == ji->docid_len && same_bytes(o->docid, ji->docid, o->docid_len)) return (long)i;
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
