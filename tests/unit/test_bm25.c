/* test_bm25: rank --mode bm25 (lib/search/bm25.c) through the search API
 * (rank_index_new + rank_search): scores of a small collection worked out by
 * hand below, ties, k, skipped ids, k1/b edge cases, a brute-force reference
 * on random collections, thread-count determinism, and the refusals (CSLS,
 * bad parameters, duplicate ids, another vocabulary). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"
#include "search/bm25.h"
#include "search/rank.h"
#include "stream/rec.h"

static const uint32_t special[] = {101, 102};

#define ITEM(name, ...) \
  { name, sizeof name - 1, sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t), NULL, (const uint32_t[]){__VA_ARGS__}, NULL }

typedef struct {
  size_t nq;
  size_t *n;
  rank_hit **h;
  size_t calls;
} result_t;

static void collect(void *ctx, size_t q, const rank_hit *hits, size_t n) {
  result_t *r = ctx;
  if (q >= r->nq) return;
  r->calls++;
  r->n[q] = n;
  r->h[q] = xmalloc((n + 1) * sizeof(rank_hit));
  memcpy(r->h[q], hits, n * sizeof(rank_hit));
}

static result_t search(const rank_item *docs, size_t nd, const rank_item *qs, size_t nq, const rank_opts *o) {
  result_t r = {nq, xcalloc(nq + 1, sizeof(size_t)), xcalloc(nq + 1, sizeof(rank_hit *)), 0};
  char err[512] = "";
  rank_index *ix = rank_index_new(docs, nd, 1, o, err, sizeof err);
  if (!ix) {
    printf("# rank_index_new: %s\n", err);
    return r;
  }
  if (rank_search(ix, qs, nq, o, collect, &r, err, sizeof err) != 0) printf("# rank_search: %s\n", err);
  rank_index_free(ix);
  return r;
}

static void free_result(result_t *r) {
  for (size_t q = 0; q < r->nq; q++) free(r->h[q]);
  free(r->n), free(r->h);
}

static rank_opts bm25_opts(void) {
  rank_opts o;
  rank_opts_default(&o);
  o.mode = RANK_BM25;
  o.skip_ids = special, o.nskip = 2;
  o.k = 10;
  o.threads = 1;
  return o;
}

/* The hand-computed collection (ids 101/102 are [CLS]/[SEP], left out):
 *   d1: 5 6 5   dl 3   f5 = 2, f6 = 1
 *   d2: 6 7     dl 2
 *   d3: 7       dl 1
 *   d4: (none)  dl 0: not counted in N, never retrieved
 * N = 3, avgdl = (3 + 2 + 1) / 3 = 2. df: 5 -> 1, 6 -> 2, 7 -> 2.
 *   idf(5) = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(8/3) = 0.980829...
 *   idf(6) = idf(7) = ln(1 + 1.5 / 2.5) = ln(1.6) = 0.470004...
 * k1 = 0.9, b = 0.4: K(d) = 0.9 (0.6 + 0.4 dl / 2):
 *   K(d1) = 0.9 * 1.2 = 1.08, K(d2) = 0.9 * 1.0 = 0.9, K(d3) = 0.9 * 0.8 = 0.72
 * q1 = 5 7 7 (7 twice: counted twice):
 *   d1: idf(5) * 2 * 1.9 / (2 + 1.08)       = ln(8/3) * 3.8 / 3.08   = 1.210114...
 *   d3: 2 * idf(7) * 1 * 1.9 / (1 + 0.72)   = 2 ln(1.6) * 1.9 / 1.72 = 1.038380...
 *   d2: 2 * idf(7) * 1.9 / (1 + 0.9)        = 2 ln(1.6)              = 0.940007...
 * q2 = 6:
 *   d2: ln(1.6) * 1.9 / 1.9 = 0.470004...; d1: ln(1.6) * 1.9 / 2.08 = 0.429331...
 * q3 = 9 (in no document) and q4 = (only specials): no hits.
 * k1 = 0 (binary): q1 -> d1 ln(8/3), d2 = d3 = 2 ln(1.6) (a tie: d2 first).
 * b = 0 (no length normalisation), k1 = 0.9: q2 -> d1 = d2 = ln(1.6) (tie). */
static void test_by_hand(void) {
  rank_item docs[] = {ITEM("d1", 101, 5, 6, 5, 102), ITEM("d2", 101, 6, 7, 102), ITEM("d3", 101, 7, 102),
                      ITEM("d4", 101, 102)};
  rank_item qs[] = {ITEM("q1", 101, 5, 7, 7, 102), ITEM("q2", 101, 6, 102), ITEM("q3", 101, 9, 102),
                    ITEM("q4", 101, 102)};
  rank_opts o = bm25_opts();
  result_t r = search(docs, 4, qs, 4, &o);
  double l83 = log(8.0 / 3), l16 = log(1.6);
  CHECK(r.calls == 4, "one emit per query (%zu)", r.calls);
  CHECK(r.n[0] == 3 && r.h[0][0].doc == 0 && r.h[0][1].doc == 2 && r.h[0][2].doc == 1,
        "q1 ranks d1, d3, d2 (and not the empty d4)");
  CHECK(check_close(r.h[0][0].score, l83 * 3.8 / 3.08, 1e-14, 0) && check_close(r.h[0][0].score, 1.210114, 1e-6, 0),
        "q1 d1 = ln(8/3) * 3.8 / 3.08 (%.15g)", r.h[0][0].score);
  CHECK(check_close(r.h[0][1].score, 2 * l16 * 1.9 / 1.72, 1e-14, 0) && check_close(r.h[0][1].score, 1.038380, 1e-6, 0),
        "q1 d3 = 2 ln(1.6) * 1.9 / 1.72: a repeated query id counts twice (%.15g)", r.h[0][1].score);
  CHECK(check_close(r.h[0][2].score, 2 * l16, 1e-14, 0), "q1 d2 = 2 ln(1.6) (%.15g)", r.h[0][2].score);
  CHECK(r.n[1] == 2 && r.h[1][0].doc == 1 && r.h[1][1].doc == 0 && check_close(r.h[1][0].score, l16, 1e-14, 0) &&
            check_close(r.h[1][1].score, l16 * 1.9 / 2.08, 1e-14, 0),
        "q2: d2 ln(1.6), d1 ln(1.6) * 1.9 / 2.08 (%.15g, %.15g)", r.n[1] ? r.h[1][0].score : 0,
        r.n[1] > 1 ? r.h[1][1].score : 0);
  CHECK(r.n[2] == 0 && r.n[3] == 0, "a query with no indexed id, or only specials, gets no hits");
  free_result(&r);

  o.k = 2;
  r = search(docs, 4, qs, 4, &o);
  CHECK(r.n[0] == 2 && r.h[0][0].doc == 0 && r.h[0][1].doc == 2, "-k 2 keeps the two best");
  free_result(&r);

  o.k = 0;
  o.bm25_k1 = 0;
  r = search(docs, 4, qs, 1, &o);
  CHECK(r.n[0] == 3 && check_close(r.h[0][0].score, l83, 1e-14, 0) && r.h[0][1].doc == 1 && r.h[0][2].doc == 2 &&
            r.h[0][1].score == r.h[0][2].score && check_close(r.h[0][1].score, 2 * l16, 1e-14, 0),
        "k1 = 0: binary idf sums; the tie d2 = d3 broken by docid ascending");
  free_result(&r);
  o.tie_desc = true;
  r = search(docs, 4, qs, 1, &o);
  CHECK(r.n[0] == 3 && r.h[0][1].doc == 2 && r.h[0][2].doc == 1, "--ties desc: d3 before d2");
  free_result(&r);

  o = bm25_opts();
  o.bm25_b = 0;
  r = search(docs, 4, qs + 1, 1, &o);
  CHECK(r.n[0] == 2 && r.h[0][0].score == r.h[0][1].score && check_close(r.h[0][0].score, l16, 1e-14, 0) &&
            r.h[0][0].doc == 0,
        "b = 0: no length normalisation (q2: d1 = d2 = ln(1.6), d1 first)");
  free_result(&r);
}

/* Skipped ids: the documents' and the queries' lists apply to their side. */
static void test_skips(void) {
  /* Without skipping, 101/102 would be terms of every document: idf
   * ln(1 + 0.5 / 3.5) and a score for every document. */
  rank_item docs[] = {ITEM("a", 101, 5, 102), ITEM("b", 101, 6, 102)};
  rank_item qs[] = {ITEM("q", 101, 5, 102)};
  rank_opts o = bm25_opts();
  o.nskip = 0;
  result_t r = search(docs, 2, qs, 1, &o);
  CHECK(r.n[0] == 2, "specials not skipped: they match every document (%zu hits)", r.n[0]);
  free_result(&r);
  o = bm25_opts();
  r = search(docs, 2, qs, 1, &o);
  /* N = 2, n = 1: idf = ln(1 + 1.5 / 1.5) = ln 2; dl = avgdl = 1: K = 0.9: ln 2 * 1.9 / 1.9 */
  CHECK(r.n[0] == 1 && check_close(r.h[0][0].score, log(2.0), 1e-14, 0), "specials skipped: only 'a', ln 2 (%.15g)",
        r.n[0] ? r.h[0][0].score : 0);
  free_result(&r);
  /* Queries from a tokenizer whose specials are 1 and 2, where 1 is an
   * ordinary word of the documents: q_skip_ids, not skip_ids, apply to them. */
  rank_item docs2[] = {ITEM("a", 101, 5, 1, 102), ITEM("b", 101, 6, 102)};
  rank_item qs2[] = {ITEM("q", 1, 6, 2)};
  r = search(docs2, 2, qs2, 1, &o);
  CHECK(r.n[0] == 2, "skip_ids on the query side too: its 1 matches 'a' (%zu hits)", r.n[0]);
  free_result(&r);
  static const uint32_t qspecial[] = {1, 2};
  o.q_skip_ids = qspecial, o.nq_skip = 2;
  r = search(docs2, 2, qs2, 1, &o);
  CHECK(r.n[0] == 1 && r.h[0][0].doc == 1, "q_skip_ids: the query's 1 is a special, only 'b' matches (%zu hits)",
        r.n[0]);
  free_result(&r);
}

/* Brute force in the same definitions, document at a time. */
static double ref_score(const rank_item *docs, size_t nd, const rank_item *q, size_t d, double k1, double b) {
  size_t N = 0;
  double sum = 0;
  size_t *dl = xcalloc(nd, sizeof *dl);
  for (size_t j = 0; j < nd; j++) {
    for (uint32_t t = 0; t < docs[j].n; t++) dl[j] += docs[j].ids[t] != 101 && docs[j].ids[t] != 102;
    if (dl[j]) N++, sum += (double)dl[j];
  }
  double avgdl = sum / (double)N, s = 0;
  for (uint32_t i = 0; i < q->n; i++) {
    uint32_t t = q->ids[i];
    if (t == 101 || t == 102) continue;
    size_t n = 0, f = 0;
    for (size_t j = 0; j < nd; j++) {
      size_t c = 0;
      for (uint32_t x = 0; x < docs[j].n; x++) c += docs[j].ids[x] == t;
      n += c > 0;
      if (j == d) f = c;
    }
    if (!f) continue;
    double idf = log(1 + ((double)N - (double)n + 0.5) / ((double)n + 0.5));
    s += idf * (double)f * (k1 + 1) / ((double)f + k1 * (1 - b + b * (double)dl[d] / avgdl));
  }
  free(dl);
  return s;
}

typedef struct {
  size_t n;
  rank_item *it;
  char (*name)[16];
  uint32_t **ids;
} coll_t;

/* Zipf-like ids from a small vocabulary so that terms repeat. */
static coll_t make_coll(rng_t *r, size_t n, size_t maxlen, const char *prefix) {
  coll_t c = {n, xcalloc(n, sizeof(rank_item)), xcalloc(n, 16), xcalloc(n, sizeof(uint32_t *))};
  for (size_t i = 0; i < n; i++) {
    size_t len = 2 + rng_below(r, maxlen);
    c.ids[i] = xmalloc(len * sizeof(uint32_t));
    c.ids[i][0] = 101, c.ids[i][len - 1] = 102;
    for (size_t t = 1; t + 1 < len; t++) {
      double u = rng_uniform(r);
      c.ids[i][t] = 1000 + (uint32_t)(40 * u * u * u);
    }
    snprintf(c.name[i], 16, "%s%zu", prefix, (i * 7919) % n);
    c.it[i] = (rank_item){c.name[i], strlen(c.name[i]), (uint32_t)len, NULL, c.ids[i], NULL};
  }
  return c;
}

static void free_coll(coll_t *c) {
  for (size_t i = 0; i < c->n; i++) free(c->ids[i]);
  free(c->it), free(c->name), free(c->ids);
}

static void test_reference(void) {
  rng_t r;
  rng_seed(&r, 12);
  coll_t docs = make_coll(&r, 300, 20, "d"), qs = make_coll(&r, 40, 6, "q");
  double params[][2] = {{0.9, 0.4}, {1.2, 0.75}, {0, 1}, {2, 0}};
  for (int p = 0; p < 4; p++) {
    rank_opts o = bm25_opts();
    o.bm25_k1 = params[p][0], o.bm25_b = params[p][1];
    o.k = 0;
    result_t res = search(docs.it, docs.n, qs.it, qs.n, &o);
    int ok = 1;
    size_t checked = 0;
    for (size_t q = 0; q < qs.n && ok; q++) {
      size_t matching = 0;
      for (size_t j = 0; j < docs.n; j++) matching += ref_score(docs.it, docs.n, &qs.it[q], j, o.bm25_k1, o.bm25_b) > 0;
      if (res.n[q] != matching) ok = 0, printf("# q%zu: %zu hits, %zu documents match\n", q, res.n[q], matching);
      for (size_t i = 0; i < res.n[q] && ok; i++) {
        rank_hit h = res.h[q][i];
        double want = ref_score(docs.it, docs.n, &qs.it[q], h.doc, o.bm25_k1, o.bm25_b);
        if (!check_close(h.score, want, 1e-12, 1e-12)) ok = 0, printf("# q%zu doc %u: %.17g vs %.17g\n", q, h.doc, h.score, want);
        if (i > 0) {
          rank_hit g = res.h[q][i - 1];
          int cmp = rank_idcmp(docs.it[g.doc].id, docs.it[g.doc].idlen, docs.it[h.doc].id, docs.it[h.doc].idlen);
          if (g.score < h.score || (g.score == h.score && cmp > 0)) ok = 0, printf("# q%zu: order at %zu\n", q, i);
        }
        checked++;
      }
    }
    CHECK(ok && checked > 1000, "k1 %g b %g: %zu scores equal the brute-force reference, order by score then docid",
          o.bm25_k1, o.bm25_b, checked);
    free_result(&res);
  }
  /* Every thread count and k gives the same hits, bit for bit. */
  rank_opts o = bm25_opts();
  o.k = 7;
  result_t one = search(docs.it, docs.n, qs.it, qs.n, &o);
  int same = 1;
  for (int t = 2; t <= 4; t++) {
    o.threads = t;
    result_t res = search(docs.it, docs.n, qs.it, qs.n, &o);
    for (size_t q = 0; q < qs.n; q++) {
      if (res.n[q] != one.n[q]) same = 0;
      for (size_t i = 0; same && i < one.n[q]; i++) /* field by field: rank_hit has padding */
        if (res.h[q][i].doc != one.h[q][i].doc || memcmp(&res.h[q][i].score, &one.h[q][i].score, sizeof(double)))
          same = 0;
    }
    free_result(&res);
  }
  CHECK(same, "threads 1..4: bit-identical hits");
  free_result(&one);
  free_coll(&docs);
  free_coll(&qs);
}

static void test_refusals(void) {
  rank_item docs[] = {ITEM("d1", 101, 5, 102), ITEM("d1", 101, 6, 102)};
  rank_item qs[] = {ITEM("q", 5)};
  rank_opts o = bm25_opts();
  char err[512] = "";
  CHECK(rank_index_new(docs, 2, 1, &o, err, sizeof err) == NULL && strstr(err, "duplicate document id 'd1'"),
        "duplicate ids refused: %s", err);
  o.bm25_b = 1.5;
  CHECK(rank_index_new(docs, 1, 1, &o, err, sizeof err) == NULL && strstr(err, "b in [0, 1]"), "b > 1 refused: %s", err);
  o = bm25_opts();
  o.bm25_k1 = -1;
  CHECK(rank_index_new(docs, 1, 1, &o, err, sizeof err) == NULL && strstr(err, "k1"), "k1 < 0 refused: %s", err);
  o = bm25_opts();
  rank_index *ix = rank_index_new(docs, 1, 1, &o, err, sizeof err);
  result_t r = {1, xcalloc(2, sizeof(size_t)), xcalloc(2, sizeof(rank_hit *)), 0};
  o.csls_k = 3;
  CHECK(ix && rank_search(ix, qs, 1, &o, collect, &r, err, sizeof err) == -1 && strstr(err, "CSLS is not defined for bm25"),
        "csls refused with its reason: %s", err);
  o = bm25_opts();
  o.mode = RANK_DENSE;
  CHECK(rank_search(ix, qs, 1, &o, collect, &r, err, sizeof err) == -1, "a bm25 index refuses a dense search");
  rank_index_free(ix);
  free_result(&r);
  o = bm25_opts();
  o.mode = RANK_OT, o.ot_base = RANK_BM25;
  CHECK(rank_index_new(docs, 1, 4, &o, err, sizeof err) == NULL && strstr(err, "'bm25'"), "ot over bm25 refused: %s", err);
  rank_mode m;
  CHECK(rank_mode_parse("bm25", &m) == 0 && m == RANK_BM25 && !strcmp(rank_mode_name(RANK_BM25), "bm25"),
        "mode name bm25");

  rec_schema *q = rec_schema_builtin("tokens"), *d = rec_schema_builtin("tokens");
  CHECK(rank_bm25_meta_check(q, d, err, sizeof err) == 0, "no vocab metadata on either side: accepted");
  rec_meta_set(d, "vocab", "abc");
  CHECK(rank_bm25_meta_check(q, d, err, sizeof err) == -1 && strstr(err, "unset") && strstr(err, "'abc'"),
        "vocab on one side only refused: %s", err);
  rec_meta_set(q, "vocab", "xyz");
  CHECK(rank_bm25_meta_check(q, d, err, sizeof err) == -1 && strstr(err, "different vocabularies"),
        "different vocabularies refused: %s", err);
  rec_meta_set(q, "vocab", "abc");
  rec_meta_set(q, "model", "other");
  CHECK(rank_bm25_meta_check(q, d, err, sizeof err) == 0, "same vocab, other model: accepted (ids are what count)");
  rec_schema_free(q);
  rec_schema_free(d);
}

/* The index's own numbers on the hand collection. */
static void test_index_stats(void) {
  rank_item docs[] = {ITEM("d1", 101, 5, 6, 5, 102), ITEM("d2", 101, 6, 7, 102), ITEM("d3", 101, 7, 102),
                      ITEM("d4", 101, 102)};
  uint32_t order[] = {0, 1, 2, 3};
  char err[256];
  bm25_index *ix = bm25_index_new(docs, 4, special, 2, 0.9, 0.4, order, err, sizeof err);
  CHECK(ix && bm25_index_empty(ix) == 1 && bm25_index_terms(ix) == 3 && bm25_avgdl(ix) == 2.0,
        "index: 1 empty document, 3 terms, avgdl 2");
  CHECK(check_close(bm25_idf(ix, 5), log(8.0 / 3), 1e-15, 0) && check_close(bm25_idf(ix, 7), log(1.6), 1e-15, 0) &&
            bm25_idf(ix, 101) == 0 && bm25_idf(ix, 9) == 0,
        "idf(5) = ln(8/3), idf(7) = ln 1.6, skipped and unknown ids 0");
  bm25_index_free(ix);
  /* Ids anywhere in [0, 2^32): the term table is a hash, not an array. */
  rank_item big[] = {ITEM("x", 0, 4294967295u, 4294967295u, 7)};
  ix = bm25_index_new(big, 1, NULL, 0, 0.9, 0.4, order, err, sizeof err);
  CHECK(ix && bm25_index_terms(ix) == 3 && bm25_idf(ix, 4294967295u) > 0 && bm25_idf(ix, 0) > 0,
        "ids 0 and 2^32-1 indexed without a table of 2^32 entries");
  bm25_index_free(ix);
}

int main(void) {
  otc_init("test_bm25");
  test_by_hand();
  test_skips();
  test_reference();
  test_refusals();
  test_index_stats();
  return check_done();
}
