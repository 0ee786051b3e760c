/* test_rank: every mode of lib/rank against a brute-force double-precision
 * reference on random data, CSLS on a hand-computed example and against the
 * reference, ties, k = 0, empty items, duplicate ids, thread-count determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ot/ot.h"
#include "search/rank.h"
#include "stream/rec.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"

/* ---- random collections ---- */

typedef struct {
  size_t n, d;
  rank_item *it;
  char (*ids)[16];
  float **vecs;
  uint32_t **tok;
} set_t;

/* Items of 1..maxn tokens; the first token has id 101 and the last 102 (as
 * [CLS]/[SEP]); a few items are only [CLS][SEP] so skipping empties them;
 * every third item has a pooled vector. Ids are shuffled so that the index
 * order is not the id order. */
static set_t make_set(rng_t *r, size_t n, size_t d, size_t maxn, const char *prefix, int pooled) {
  set_t s = {n, d, xcalloc(n, sizeof(rank_item)), xcalloc(n, 16), xcalloc(n, sizeof(float *)),
             xcalloc(n, sizeof(uint32_t *))};
  size_t *perm = xmalloc(n * sizeof *perm);
  for (size_t i = 0; i < n; i++) perm[i] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = rng_below(r, i), t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
  for (size_t i = 0; i < n; i++) {
    size_t nt = i % 17 == 5 ? 2 : 1 + rng_below(r, maxn);
    s.vecs[i] = xmalloc((nt * d + 1) * sizeof(float));
    s.tok[i] = xmalloc((nt + 1) * sizeof(uint32_t));
    for (size_t k = 0; k < nt * d; k++) s.vecs[i][k] = (float)rng_normal(r);
    for (size_t t = 0; t < nt; t++) s.tok[i][t] = 1000 + (uint32_t)rng_below(r, 500);
    s.tok[i][0] = 101;
    if (nt > 1) s.tok[i][nt - 1] = 102;
    snprintf(s.ids[i], 16, "%s%zu", prefix, perm[i]);
    float *pv = NULL;
    if (pooled && i % 3 == 0) {
      pv = xmalloc(d * sizeof(float));
      for (size_t k = 0; k < d; k++) pv[k] = (float)rng_normal(r);
    }
    s.it[i] = (rank_item){s.ids[i], strlen(s.ids[i]), (uint32_t)nt, s.vecs[i], s.tok[i], pv};
  }
  free(perm);
  return s;
}

static void free_set(set_t *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->vecs[i]);
    free(s->tok[i]);
    free((void *)s->it[i].vec);
  }
  free(s->it), free(s->ids), free(s->vecs), free(s->tok);
}

/* ---- the reference: the definitions of rank.h, in double ---- */

static int skipped(const rank_opts *o, uint32_t id) {
  for (size_t i = 0; i < o->nskip; i++)
    if (o->skip_ids[i] == id) return 1;
  return 0;
}

/* Rows as rank.h defines them, in double; returns the row count. */
static size_t ref_rows(const rank_item *it, size_t d, const rank_opts *o, double *out) {
  rank_mode m = o->mode == RANK_OT ? o->ot_base : o->mode;
  size_t r = 0;
  if (m == RANK_DENSE) {
    if (it->vec && !o->pool_mean) {
      for (size_t k = 0; k < d; k++) out[k] = it->vec[k];
      r = 1;
    } else {
      size_t c = 0;
      for (size_t k = 0; k < d; k++) out[k] = 0;
      for (uint32_t t = 0; t < it->n; t++) {
        if (skipped(o, it->ids[t])) continue;
        for (size_t k = 0; k < d; k++) out[k] += it->vecs[t * d + k];
        c++;
      }
      if (!c) return 0;
      for (size_t k = 0; k < d; k++) out[k] /= (double)c;
      r = 1;
    }
  } else {
    for (uint32_t t = 0; t < it->n; t++) {
      if (skipped(o, it->ids[t])) continue;
      for (size_t k = 0; k < d; k++) out[r * d + k] = it->vecs[t * d + k];
      r++;
    }
  }
  if (o->sim == RANK_COS)
    for (size_t i = 0; i < r; i++) {
      double s = 0;
      for (size_t k = 0; k < d; k++) s += out[i * d + k] * out[i * d + k];
      if (s > 0)
        for (size_t k = 0; k < d; k++) out[i * d + k] /= sqrt(s);
    }
  return r;
}

/* Score matrix nq x nd; NAN where either side has no rows. */
static double *ref_scores(const set_t *q, const set_t *dc, const rank_opts *o) {
  size_t d = q->d;
  rank_mode m = o->mode == RANK_OT ? o->ot_base : o->mode;
  double *S = xmalloc(q->n * dc->n * sizeof *S);
  double *a = xmalloc(64 * d * sizeof *a), *b = xmalloc(64 * d * sizeof *b);
  for (size_t i = 0; i < q->n; i++) {
    size_t na = ref_rows(&q->it[i], d, o, a);
    for (size_t j = 0; j < dc->n; j++) {
      size_t nb = ref_rows(&dc->it[j], d, o, b);
      double s = NAN;
      if (na && nb) {
        double fwd = 0, back = 0;
        for (size_t x = 0; x < na; x++) {
          double best = -INFINITY;
          for (size_t y = 0; y < nb; y++) {
            double dot = 0;
            for (size_t k = 0; k < d; k++) dot += a[x * d + k] * b[y * d + k];
            if (dot > best) best = dot;
          }
          fwd += best;
        }
        for (size_t y = 0; y < nb; y++) {
          double best = -INFINITY;
          for (size_t x = 0; x < na; x++) {
            double dot = 0;
            for (size_t k = 0; k < d; k++) dot += a[x * d + k] * b[y * d + k];
            if (dot > best) best = dot;
          }
          back += best;
        }
        if (m == RANK_DENSE) s = fwd;
        else if (m == RANK_MAXSIM) s = o->maxsim_mean ? fwd / (double)na : fwd;
        else s = 0.5 * (fwd / (double)na + back / (double)nb);
      }
      S[i * dc->n + j] = s;
    }
  }
  free(a), free(b);
  return S;
}

static int cmp_desc(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a < b) - (a > b);
}

/* CSLS in place over the finite entries. */
static void ref_csls(double *S, size_t nq, size_t nd, size_t K) {
  double *rq = xcalloc(nq, sizeof *rq), *rd = xcalloc(nd, sizeof *rd), *v = xmalloc((nq + nd) * sizeof *v);
  for (size_t i = 0; i < nq; i++) {
    size_t n = 0;
    for (size_t j = 0; j < nd; j++)
      if (!isnan(S[i * nd + j])) v[n++] = S[i * nd + j];
    qsort(v, n, sizeof *v, cmp_desc);
    size_t t = n < K ? n : K;
    for (size_t x = 0; x < t; x++) rq[i] += v[x] / (double)t;
  }
  for (size_t j = 0; j < nd; j++) {
    size_t n = 0;
    for (size_t i = 0; i < nq; i++)
      if (!isnan(S[i * nd + j])) v[n++] = S[i * nd + j];
    qsort(v, n, sizeof *v, cmp_desc);
    size_t t = n < K ? n : K;
    for (size_t x = 0; x < t; x++) rd[j] += v[x] / (double)t;
  }
  for (size_t i = 0; i < nq; i++)
    for (size_t j = 0; j < nd; j++) S[i * nd + j] = 2 * S[i * nd + j] - rq[i] - rd[j];
  free(rq), free(rd), free(v);
}

/* ---- collecting results ---- */

typedef struct {
  size_t nq, cap;
  size_t *n;
  rank_hit *h;
  int order_ok;
} result_t;

static void collect(void *ctx, size_t q, const rank_hit *hits, size_t n) {
  result_t *r = ctx;
  if (q >= r->nq || n > r->cap) {
    r->order_ok = 0;
    return;
  }
  r->n[q] = n;
  memcpy(r->h + q * r->cap, hits, n * sizeof *hits);
}

static result_t run(const set_t *q, const set_t *dc, const rank_opts *o) {
  result_t r = {q->n, dc->n, xcalloc(q->n, sizeof(size_t)), xcalloc(q->n * dc->n + 1, sizeof(rank_hit)), 1};
  char err[256] = "";
  rank_index *ix = rank_index_new(dc->it, dc->n, dc->d, o, err, sizeof err);
  if (!ix) {
    printf("# rank_index_new: %s\n", err);
    r.order_ok = 0;
    return r;
  }
  if (rank_search(ix, q->it, q->n, o, collect, &r, err, sizeof err) != 0) {
    printf("# rank_search: %s\n", err);
    r.order_ok = 0;
  }
  rank_index_free(ix);
  return r;
}

static void free_result(result_t *r) { free(r->n), free(r->h); }

/* Our hits against the reference: each score close to the reference score of
 * that pair; hits in non-increasing score order; nothing left out that the
 * reference scores clearly higher than the last hit; the right count. */
static int agrees(const result_t *r, const double *S, const set_t *q, const set_t *dc, size_t k, double tol,
                  char *why, size_t whylen) {
  if (!r->order_ok) return snprintf(why, whylen, "search failed"), 0;
  for (size_t i = 0; i < q->n; i++) {
    size_t avail = 0;
    for (size_t j = 0; j < dc->n; j++) avail += !isnan(S[i * dc->n + j]);
    size_t want = k && k < avail ? k : avail;
    if (r->n[i] != want) return snprintf(why, whylen, "query %zu: %zu hits, expected %zu", i, r->n[i], want), 0;
    const rank_hit *h = r->h + i * r->cap;
    char *in = xcalloc(dc->n, 1);
    for (size_t x = 0; x < r->n[i]; x++) {
      double ref = S[i * dc->n + h[x].doc];
      in[h[x].doc] = 1;
      if (isnan(ref) || !check_close(h[x].score, ref, tol, tol)) {
        snprintf(why, whylen, "query %zu hit %zu doc %u: score %.9g, reference %.9g", i, x, h[x].doc, h[x].score, ref);
        free(in);
        return 0;
      }
      if (x > 0 && h[x].score > h[x - 1].score) {
        snprintf(why, whylen, "query %zu: hits %zu and %zu out of order", i, x - 1, x);
        free(in);
        return 0;
      }
    }
    if (r->n[i]) {
      double last = S[i * dc->n + h[r->n[i] - 1].doc];
      for (size_t j = 0; j < dc->n; j++)
        if (!in[j] && !isnan(S[i * dc->n + j]) && S[i * dc->n + j] > last + 2 * tol) {
          snprintf(why, whylen, "query %zu: doc %zu (%.9g) missing above the last hit (%.9g)", i, j,
                   S[i * dc->n + j], last);
          free(in);
          return 0;
        }
    }
    free(in);
  }
  return 1;
}

static const uint32_t special[2] = {101, 102};

static void test_modes_against_reference(void) {
  rng_t r;
  rng_seed(&r, 7);
  size_t d = 19;
  set_t docs = make_set(&r, 233, d, 13, "d", 1), qs = make_set(&r, 41, d, 9, "q", 1);
  struct {
    rank_mode mode;
    rank_sim sim;
    int mean, skip, pool_mean;
  } cases[] = {
      {RANK_DENSE, RANK_COS, 0, 0, 0},  {RANK_DENSE, RANK_DOT, 0, 0, 0},    {RANK_DENSE, RANK_COS, 0, 1, 1},
      {RANK_DENSE, RANK_DOT, 0, 1, 1},  {RANK_MAXSIM, RANK_COS, 0, 0, 0},   {RANK_MAXSIM, RANK_COS, 1, 1, 0},
      {RANK_MAXSIM, RANK_DOT, 0, 1, 0}, {RANK_MAXSIM_SYM, RANK_COS, 0, 0, 0}, {RANK_MAXSIM_SYM, RANK_COS, 0, 1, 0},
      {RANK_MAXSIM_SYM, RANK_DOT, 0, 0, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    rank_opts o;
    rank_opts_default(&o);
    o.mode = cases[c].mode;
    o.sim = cases[c].sim;
    o.maxsim_mean = cases[c].mean;
    o.pool_mean = cases[c].pool_mean;
    if (cases[c].skip) o.skip_ids = special, o.nskip = 2;
    o.threads = 2;
    o.block_rows = 37; /* many blocks, documents straddling nothing */
    o.tile_rows = 23;
    o.batch = 16;
    double *S = ref_scores(&qs, &docs, &o);
    double tol = o.sim == RANK_DOT ? 2e-4 : 2e-5;
    if (o.mode == RANK_MAXSIM && !o.maxsim_mean) tol *= 10;
    size_t ks[] = {10, 0, 500};
    for (size_t ki = 0; ki < 3; ki++) {
      o.k = ks[ki];
      result_t res = run(&qs, &docs, &o);
      char why[256] = "";
      int ok = agrees(&res, S, &qs, &docs, o.k, tol, why, sizeof why);
      CHECK(ok, "%s sim=%s%s%s%s k=%zu matches the double reference%s%s", rank_mode_name(o.mode),
            o.sim == RANK_COS ? "cos" : "dot", o.maxsim_mean ? " mean" : "", o.nskip ? " skip-special" : "",
            o.pool_mean ? " pool-mean" : "", o.k, ok ? "" : ": ", why);
      free_result(&res);
    }
    free(S);
  }
  free_set(&docs);
  free_set(&qs);
}

static void test_csls_reference(void) {
  rng_t r;
  rng_seed(&r, 11);
  size_t d = 16;
  set_t docs = make_set(&r, 120, d, 7, "d", 0), qs = make_set(&r, 30, d, 7, "q", 0);
  rank_mode modes[] = {RANK_DENSE, RANK_MAXSIM, RANK_MAXSIM_SYM};
  for (int m = 0; m < 3; m++) {
    rank_opts o;
    rank_opts_default(&o);
    o.mode = modes[m];
    o.maxsim_mean = 1;
    o.skip_ids = special, o.nskip = 2;
    o.csls_k = 5;
    o.k = 7;
    o.threads = 3;
    o.block_rows = 50;
    o.batch = 8;
    double *S = ref_scores(&qs, &docs, &o);
    ref_csls(S, qs.n, docs.n, 5);
    result_t res = run(&qs, &docs, &o);
    char why[256] = "";
    int ok = agrees(&res, S, &qs, &docs, o.k, 5e-5, why, sizeof why);
    CHECK(ok, "csls 5 %s matches the double reference%s%s", rank_mode_name(o.mode), ok ? "" : ": ", why);
    free_result(&res);
    free(S);
  }
  free_set(&docs);
  free_set(&qs);
}

/* CSLS by hand, dense dot, d = 1: q = (1, 2), docs a = 1, b = 3, c = -1.
 * s: q1: a 1, b 3, c -1; q2: a 2, b 6, c -2. K = 2:
 * r_q1 = (3 + 1)/2 = 2, r_q2 = (6 + 2)/2 = 4; r_a = (2 + 1)/2 = 1.5,
 * r_b = (6 + 3)/2 = 4.5, r_c = (-1 - 2)/2 = -1.5.
 * q1: a 2 - 2 - 1.5 = -1.5, b 6 - 2 - 4.5 = -0.5, c -2 - 2 + 1.5 = -2.5
 * q2: a 4 - 4 - 1.5 = -1.5, b 12 - 4 - 4.5 = 3.5, c -4 - 4 + 1.5 = -6.5 */
static void test_csls_by_hand(void) {
  float qv[2] = {1, 2}, dv[3] = {1, 3, -1};
  uint32_t tok = 5;
  rank_item q[2] = {{"q1", 2, 1, &qv[0], &tok, NULL}, {"q2", 2, 1, &qv[1], &tok, NULL}};
  rank_item dc[3] = {{"a", 1, 1, &dv[0], &tok, NULL}, {"b", 1, 1, &dv[1], &tok, NULL}, {"c", 1, 1, &dv[2], &tok, NULL}};
  rank_opts o;
  rank_opts_default(&o);
  o.sim = RANK_DOT;
  o.csls_k = 2;
  o.k = 0;
  set_t sq = {2, 1, q, NULL, NULL, NULL}, sd = {3, 1, dc, NULL, NULL, NULL};
  result_t res = run(&sq, &sd, &o);
  const rank_hit *h1 = res.h, *h2 = res.h + res.cap;
  CHECK(res.n[0] == 3 && h1[0].doc == 1 && h1[1].doc == 0 && h1[2].doc == 2 && h1[0].score == -0.5 &&
            h1[1].score == -1.5 && h1[2].score == -2.5,
        "csls by hand, query 1: b -0.5, a -1.5, c -2.5");
  CHECK(res.n[1] == 3 && h2[0].doc == 1 && h2[1].doc == 0 && h2[2].doc == 2 && h2[0].score == 3.5 &&
            h2[1].score == -1.5 && h2[2].score == -6.5,
        "csls by hand, query 2: b 3.5, a -1.5, c -6.5");
  /* K larger than either side: the means are over everything there is. */
  o.csls_k = 10;
  free_result(&res);
  res = run(&sq, &sd, &o);
  /* r_q1 = 1, r_q2 = 2, r_a = 1.5, r_b = 4.5, r_c = -1.5: q1 b = 6 - 1 - 4.5 = 0.5 */
  CHECK(res.n[0] == 3 && res.h[0].doc == 1 && res.h[0].score == 0.5, "csls K above the set sizes averages all");
  free_result(&res);
}

/* Identical vectors under ids given out of order: ties by id ascending
 * (bytewise, so "d10" < "d9"), or descending with tie_desc. */
static void test_ties(void) {
  float v[4] = {1, 0, 0, 0}, w[4] = {0, 1, 0, 0};
  uint32_t tok = 7;
  const char *names[6] = {"d9", "d10", "x", "d1", "D5", "d1a"};
  rank_item dc[6];
  for (int i = 0; i < 6; i++) dc[i] = (rank_item){names[i], strlen(names[i]), 1, i == 2 ? w : v, &tok, NULL};
  rank_item q[1] = {{"q", 1, 1, v, &tok, NULL}};
  set_t sq = {1, 4, q, NULL, NULL, NULL}, sd = {6, 4, dc, NULL, NULL, NULL};
  rank_opts o;
  rank_opts_default(&o);
  o.block_rows = 2; /* the tied documents sit in different blocks */
  o.threads = 3;
  result_t res = run(&sq, &sd, &o);
  /* ascending: D5(4) d1(3) d10(1) d1a(5) d9(0), then x(2) */
  uint32_t want_asc[6] = {4, 3, 1, 5, 0, 2}, want_desc[6] = {0, 5, 1, 3, 4, 2};
  int ok = res.n[0] == 6;
  for (int i = 0; ok && i < 6; i++) ok = res.h[i].doc == want_asc[i];
  CHECK(ok, "exact ties ordered by docid ascending (bytewise)");
  free_result(&res);
  o.tie_desc = 1;
  res = run(&sq, &sd, &o);
  ok = res.n[0] == 6;
  for (int i = 0; ok && i < 6; i++) ok = res.h[i].doc == want_desc[i];
  CHECK(ok, "tie_desc orders exact ties by docid descending (trec_eval's order)");
  free_result(&res);
  o.tie_desc = 0;
  o.k = 2;
  res = run(&sq, &sd, &o);
  CHECK(res.n[0] == 2 && res.h[0].doc == 4 && res.h[1].doc == 3, "top-2 cut inside a tie keeps the smallest ids");
  free_result(&res);
}

static void test_threads_deterministic(void) {
  rng_t r;
  rng_seed(&r, 3);
  size_t d = 33;
  set_t docs = make_set(&r, 300, d, 20, "doc", 1), qs = make_set(&r, 25, d, 12, "q", 0);
  rank_mode modes[] = {RANK_DENSE, RANK_MAXSIM, RANK_MAXSIM_SYM};
  for (int m = 0; m < 3; m++) {
    rank_opts o;
    rank_opts_default(&o);
    o.mode = modes[m];
    o.csls_k = m == 2 ? 4 : 0;
    o.k = 20;
    o.block_rows = 64;
    o.tile_rows = 40;
    o.threads = 1;
    result_t base = run(&qs, &docs, &o);
    int same = base.order_ok;
    int threads[] = {2, 3, 7};
    for (int t = 0; t < 3; t++) {
      o.threads = threads[t];
      result_t res = run(&qs, &docs, &o);
      same = same && res.order_ok && !memcmp(res.n, base.n, qs.n * sizeof *res.n);
      for (size_t i = 0; same && i < qs.n; i++)
        for (size_t x = 0; same && x < res.n[i]; x++) {
          rank_hit a = res.h[i * res.cap + x], b = base.h[i * base.cap + x];
          same = a.doc == b.doc && !memcmp(&a.score, &b.score, sizeof a.score); /* bits, not == */
        }
      free_result(&res);
    }
    CHECK(same, "%s%s: bit-identical hits for 1, 2, 3 and 7 threads", rank_mode_name(o.mode),
          o.csls_k ? " csls" : "");
    free_result(&base);
  }
  free_set(&docs);
  free_set(&qs);
}

static int emitted_empty;
static void count_empty(void *ctx, size_t q, const rank_hit *hits, size_t n) {
  (void)ctx, (void)q, (void)hits;
  if (n == 0) emitted_empty++;
}

static void test_errors_and_empties(void) {
  float v[2] = {1, 0};
  uint32_t tok[2] = {101, 102};
  rank_item dc[3] = {{"a", 1, 1, v, tok, NULL}, {"b", 1, 1, v, tok, NULL}, {"a", 1, 1, v, tok, NULL}};
  rank_opts o;
  rank_opts_default(&o);
  char err[256] = "";
  rank_index *ix = rank_index_new(dc, 3, 2, &o, err, sizeof err);
  CHECK(!ix && strstr(err, "duplicate document id 'a'") && strstr(err, "documents 0 and 2"),
        "duplicate document id refused: %s", err);
  rank_index_free(ix);

  /* [CLS]-only and [SEP]-only items are empty once the specials are skipped. */
  rank_item dc2[3] = {{"a", 1, 1, v, &tok[0], NULL}, {"b", 1, 1, v, &tok[1], NULL}, {"c", 1, 2, v, (uint32_t[]){5, 101}, NULL}};
  float v2[4] = {1, 0, 0, 1};
  dc2[2].vecs = v2;
  o.skip_ids = special, o.nskip = 2;
  o.mode = RANK_MAXSIM;
  ix = rank_index_new(dc2, 3, 2, &o, err, sizeof err);
  CHECK(ix && rank_index_empty(ix) == 2, "documents with only skipped tokens are counted empty");
  rank_item q[2] = {{"q", 1, 1, v, &tok[0], NULL}, {"r", 1, 1, v, (uint32_t[]){9}, NULL}};
  emitted_empty = 0;
  int rc = ix ? rank_search(ix, q, 2, &o, count_empty, NULL, err, sizeof err) : -1;
  CHECK(rc == 0 && emitted_empty == 1, "a query with only skipped tokens gets no hits");
  rank_index_free(ix);

  /* Each side its own special ids (student and teacher vocabularies). */
  float dv[4] = {0, 1, 1, 0};
  rank_item da[1] = {{"a", 1, 2, dv, (uint32_t[]){101, 5}, NULL}}, qa[1] = {{"q", 1, 2, dv, (uint32_t[]){1, 7}, NULL}};
  static const uint32_t qspecial[2] = {1, 2};
  rank_opts o2;
  rank_opts_default(&o2);
  o2.mode = RANK_MAXSIM;
  o2.maxsim_mean = true;
  o2.skip_ids = special, o2.nskip = 2;
  set_t sq = {1, 2, qa, NULL, NULL, NULL}, sd = {1, 2, da, NULL, NULL, NULL};
  result_t res = run(&sq, &sd, &o2);
  double same_list = res.n[0] == 1 ? res.h[0].score : -9;
  free_result(&res);
  o2.q_skip_ids = qspecial, o2.nq_skip = 2;
  res = run(&sq, &sd, &o2);
  CHECK(same_list == 0.5 && res.n[0] == 1 && res.h[0].score == 1.0,
        "q_skip_ids: queries skip their own special ids (%g then %g)", same_list, res.n[0] ? res.h[0].score : -9);
  free_result(&res);

  rank_mode m;
  CHECK(rank_mode_parse("maxsim-sym", &m) == 0 && m == RANK_MAXSIM_SYM && rank_mode_parse("colbert", &m) == -1,
        "mode names parse");
  CHECK(rank_idcmp("ab", 2, "abc", 3) < 0 && rank_idcmp("b", 1, "abc", 3) > 0 && rank_idcmp("\xc3", 1, "z", 1) > 0,
        "ids compare as strcmp (unsigned bytes, prefix first)");
}

/* ot: the candidates are exactly the first stage's top R, rescored by -cost
 * of an independent ot_solve, best first. */
static void test_ot_rerank(void) {
  rng_t r;
  rng_seed(&r, 5);
  size_t d = 12;
  set_t docs = make_set(&r, 60, d, 8, "d", 0), qs = make_set(&r, 6, d, 6, "q", 0);
  rank_opts o;
  rank_opts_default(&o);
  o.mode = RANK_MAXSIM_SYM;
  o.skip_ids = special, o.nskip = 2;
  o.k = 15;
  o.block_rows = 30;
  o.threads = 2;
  result_t first = run(&qs, &docs, &o);
  o.mode = RANK_OT;
  o.ot_base = RANK_MAXSIM_SYM;
  o.ot_candidates = 15;
  o.k = 6;
  result_t res = run(&qs, &docs, &o);
  ot_options oo;
  ot_options_default(&oo);
  int ok = first.order_ok && res.order_ok, mism = -1;
  for (size_t i = 0; ok && i < qs.n; i++) {
    size_t nf = first.n[i];
    rank_hit *cand = xmalloc((nf + 1) * sizeof *cand);
    for (size_t x = 0; x < nf; x++) {
      const rank_item *qi = &qs.it[i], *di = &docs.it[first.h[i * first.cap + x].doc];
      unsigned char *ms = xmalloc(qi->n), *mt = xmalloc(di->n);
      for (uint32_t t = 0; t < qi->n; t++) ms[t] = qi->ids[t] != 101 && qi->ids[t] != 102;
      for (uint32_t t = 0; t < di->n; t++) mt[t] = di->ids[t] != 101 && di->ids[t] != 102;
      ot_problem p = {qi->vecs, di->vecs, (int)qi->n, (int)di->n, (int)d, (int)d, NULL, NULL, ms, mt};
      ot_result rr = {0};
      ot_solve(&p, &oo, &rr, NULL, 0);
      cand[x] = (rank_hit){first.h[i * first.cap + x].doc, -rr.cost};
      free(ms), free(mt);
    }
    /* selection sort by score desc (no exact ties on random data) */
    for (size_t a = 0; a < nf; a++)
      for (size_t b = a + 1; b < nf; b++)
        if (cand[b].score > cand[a].score) {
          rank_hit t = cand[a];
          cand[a] = cand[b];
          cand[b] = t;
        }
    size_t want = nf < 6 ? nf : 6;
    ok = res.n[i] == want;
    for (size_t x = 0; ok && x < want; x++)
      ok = res.h[i * res.cap + x].doc == cand[x].doc && res.h[i * res.cap + x].score == cand[x].score;
    if (!ok) mism = (int)i;
    free(cand);
  }
  CHECK(ok, "ot reranks the top 15 of maxsim-sym by -<P,C> (ot_solve), top 6 kept%s", mism >= 0 ? " (mismatch)" : "");
  free_result(&first);
  free_result(&res);
  free_set(&docs);
  free_set(&qs);
}

/* ot + CSLS with every document a candidate: the sparse correction over the
 * candidate pairs is then CSLS on the full matrix of -cost. */
static void test_ot_csls(void) {
  rng_t r;
  rng_seed(&r, 9);
  size_t d = 10;
  set_t docs = make_set(&r, 25, d, 6, "d", 0), qs = make_set(&r, 7, d, 5, "q", 0);
  ot_options oo;
  ot_options_default(&oo);
  double *S = xmalloc(qs.n * docs.n * sizeof *S);
  for (size_t i = 0; i < qs.n; i++)
    for (size_t j = 0; j < docs.n; j++) {
      const rank_item *qi = &qs.it[i], *di = &docs.it[j];
      unsigned char *ms = xmalloc(qi->n), *mt = xmalloc(di->n);
      size_t us = 0, ut = 0;
      for (uint32_t t = 0; t < qi->n; t++) us += ms[t] = qi->ids[t] != 101 && qi->ids[t] != 102;
      for (uint32_t t = 0; t < di->n; t++) ut += mt[t] = di->ids[t] != 101 && di->ids[t] != 102;
      S[i * docs.n + j] = NAN;
      if (us && ut) {
        ot_problem p = {qi->vecs, di->vecs, (int)qi->n, (int)di->n, (int)d, (int)d, NULL, NULL, ms, mt};
        ot_result rr = {0};
        ot_solve(&p, &oo, &rr, NULL, 0);
        S[i * docs.n + j] = 0.0 - rr.cost;
      }
      free(ms), free(mt);
    }
  ref_csls(S, qs.n, docs.n, 3);
  rank_opts o;
  rank_opts_default(&o);
  o.mode = RANK_OT;
  o.ot_base = RANK_MAXSIM;
  o.ot_candidates = 1000;
  o.skip_ids = special, o.nskip = 2;
  o.csls_k = 3;
  o.k = 8;
  o.threads = 2;
  result_t res = run(&qs, &docs, &o);
  char why[256] = "";
  int ok = agrees(&res, S, &qs, &docs, o.k, 1e-9, why, sizeof why);
  CHECK(ok, "ot + csls 3: CSLS of -cost over the candidate pairs%s%s", ok ? "" : ": ", why);
  free_result(&res);
  free(S);
  free_set(&docs);
  free_set(&qs);
}

/* Zero vectors where a cosine is taken: one error naming input, record and
 * token (issue 14, item 9); accepted under dot, or when skipped. */
static int search_err(const rank_item *docs, size_t nd, const rank_item *qs, size_t nq, size_t d, const rank_opts *o,
                      char *err, size_t errlen) {
  err[0] = 0;
  rank_index *ix = rank_index_new(docs, nd, d, o, err, errlen);
  if (!ix) return -2;
  emitted_empty = 0;
  int rc = rank_search(ix, qs, nq, o, count_empty, NULL, err, errlen);
  rank_index_free(ix);
  return rc;
}

static void test_zero_vectors(void) {
  static const float v_d0[] = {0, 1, 1, 0}, v_d1[] = {0, 1, 1, 0, 0, 0}, v_d2[] = {1, 1, 1, 0},
                     v_mean[] = {1, 0, -1, 0}, v_q[] = {1, 0}, v_qz[] = {0, 0}, v_pool[] = {0, 0};
  static const uint32_t ids2[] = {5, 6}, ids3[] = {5, 6, 7}, ids_s[] = {5, 101}, id1[] = {5};
  rank_item docs[] = {{"d0", 2, 2, v_d0, ids2, NULL}, {"d1", 2, 3, v_d1, ids3, NULL}, {"d2", 2, 2, v_d2, ids2, NULL}};
  rank_item qs[] = {{"q0", 2, 1, v_q, id1, NULL}, {"q1", 2, 1, v_qz, id1, NULL}};
  char err[512];
  rank_opts o;
  rank_opts_default(&o);
  o.threads = 1;
  o.doc_name = "docs.rec";
  rank_mode modes[] = {RANK_DENSE, RANK_MAXSIM, RANK_MAXSIM_SYM, RANK_OT};
  for (int m = 0; m < 4; m++) {
    o.mode = modes[m];
    int rc = search_err(docs, 3, qs, 1, 2, &o, err, sizeof err);
    if (modes[m] == RANK_DENSE) /* d1's mean (0, 1)/3 + (1, 0)/3 is not zero: d2's tokens neither */
      CHECK(rc == 0, "dense cos: a zero token inside a non-zero mean is fine (%s)", err);
    else
      CHECK(rc == -1 && !strcmp(err, "docs.rec: document record 1 ('d1'), token 2: cosine undefined: zero vector"),
            "%s cos: zero token refused: %s", rank_mode_name(modes[m]), err);
  }
  /* under dot: accepted (a zero vector scores 0), except for ot's cosine cost */
  o.sim = RANK_DOT;
  o.mode = RANK_MAXSIM;
  CHECK(search_err(docs, 3, qs, 1, 2, &o, err, sizeof err) == 0, "maxsim dot: zero token accepted");
  o.mode = RANK_OT, o.ot_base = RANK_MAXSIM;
  CHECK(search_err(docs, 3, qs, 1, 2, &o, err, sizeof err) == -1 && strstr(err, "record 1 ('d1'), token 2: cosine undefined"),
        "ot over a dot first stage: refused all the same: %s", err);
  /* the same first document for any thread count, even with several bad ones */
  rank_item docs3[] = {docs[2], docs[1], docs[0], docs[1]};
  docs3[3].id = "d9";
  o = (rank_opts){0};
  rank_opts_default(&o);
  o.mode = RANK_MAXSIM;
  o.block_rows = 2;
  int same = 1;
  for (int t = 1; t <= 3; t++) {
    o.threads = t;
    same &= search_err(docs3, 4, qs, 1, 2, &o, err, sizeof err) == -1 &&
            !strcmp(err, "documents: document record 1 ('d1'), token 2: cosine undefined: zero vector");
  }
  CHECK(same, "threads 1-3, one block per document: the first bad document is named: %s", err);
  /* skipped, it is not used: fine */
  static const uint32_t skip7[] = {7};
  o.threads = 1;
  o.skip_ids = skip7, o.nskip = 1;
  CHECK(search_err(docs, 3, qs, 1, 2, &o, err, sizeof err) == 0, "a skipped zero token is not used: accepted (%s)", err);
  o.nskip = 0;
  /* a query: named by its record number in the input (query_base + index) */
  o.query_name = "stdin", o.query_base = 40;
  CHECK(search_err(docs + 2, 1, qs, 2, 2, &o, err, sizeof err) == -1 &&
            !strcmp(err, "stdin: query record 41 ('q1'), token 0: cosine undefined: zero vector"),
        "zero query token: %s", err);
  /* dense: a zero pooled vec, a zero mean */
  rank_item pooled[] = {{"p", 1, 2, v_d2, ids2, v_pool}}, mean[] = {{"m", 1, 2, v_mean, ids_s, NULL}};
  o.mode = RANK_DENSE;
  CHECK(search_err(pooled, 1, qs, 1, 2, &o, err, sizeof err) == -1 && strstr(err, "record 0 ('p'), pooled vector 'vec'"),
        "dense: zero pooled vector: %s", err);
  CHECK(search_err(mean, 1, qs, 1, 2, &o, err, sizeof err) == -1 && strstr(err, "record 0 ('m'), mean of its token vectors"),
        "dense: tokens (1,0) and (-1,0) average to zero: %s", err);
  static const uint32_t skip101[] = {101};
  o.skip_ids = skip101, o.nskip = 1;
  CHECK(search_err(mean, 1, qs, 1, 2, &o, err, sizeof err) == 0, "dense: with token 101 skipped the mean is (1,0)");
}

/* rank_docs: a mapped file truncated under us reads as zeros instead of
 * raising SIGBUS, and rank_docs_intact says so; a tokens file opens as ids. */
static void test_docs_guard(void) {
  char dir[] = "/tmp/test_rank.XXXXXX", path[64];
  if (!mkdtemp(dir)) return;
  snprintf(path, sizeof path, "%s/docs.rec", dir);
  rec_schema *s = rec_schema_builtin("vectors");
  rec_set_dim(s, "d", 64);
  rec_writer *w = rec_writer_path(path, s, NULL);
  int fid = rec_field_index(s, "id"), fids = rec_field_index(s, "ids"), fvecs = rec_field_index(s, "vecs");
  float v[8 * 64];
  uint32_t ids[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (size_t i = 0; i < 8 * 64; i++) v[i] = 1.0f + (float)i;
  for (int r = 0; r < 100; r++) {
    char id[16];
    int n = snprintf(id, sizeof id, "d%d", r);
    rec_put_str(w, fid, id, (size_t)n);
    rec_put(w, fids, ids, (uint32_t[]){8});
    rec_put(w, fvecs, v, (uint32_t[]){8, 64});
    rec_write(w);
  }
  rec_writer_close(w);
  rec_schema_free(s);
  char err[512] = "";
  rank_docs *dc = rank_docs_open(path, "vectors", NULL, err, sizeof err);
  CHECK(dc && dc->n == 100 && dc->d == 64 && rank_docs_intact(dc, err, sizeof err) == 0, "100 documents mapped, intact");
  if (dc) {
    CHECK(truncate(path, 4096) == 0, "file truncated to one page while mapped");
    volatile float x = dc->items[99].vecs[7 * 64 + 63]; /* a vanished page: SIGBUS without the guard */
    CHECK(x == 0.0f, "the vanished page reads as zeros (%g)", (double)x);
    CHECK(rank_docs_intact(dc, err, sizeof err) == -1 && strstr(err, "docs.rec: the file shrank while rank was reading it"),
          "rank_docs_intact: %s", err);
    rank_docs_close(dc);
  }
  dc = rank_docs_open(path, "vectors", NULL, err, sizeof err);
  CHECK(!dc && strstr(err, "docs.rec"), "the truncated file no longer opens: %s", err);
  dc = rank_docs_open("/nonexistent/x.rec", "vectors", NULL, err, sizeof err);
  CHECK(!dc && strstr(err, "cannot open"), "missing file: %s", err);
  /* a tokens file: ids only */
  snprintf(path, sizeof path, "%s/t.rec", dir);
  s = rec_schema_builtin("tokens");
  rec_meta_set(s, "vocab", "v1");
  w = rec_writer_path(path, s, NULL);
  rec_put_str(w, rec_field_index(s, "id"), "t0", 2);
  rec_put(w, rec_field_index(s, "ids"), ids, (uint32_t[]){3});
  rec_write(w);
  rec_writer_close(w);
  rec_schema_free(s);
  dc = rank_docs_open(path, "tokens", NULL, err, sizeof err);
  CHECK(dc && dc->n == 1 && dc->items[0].n == 3 && dc->items[0].ids[2] == 3 && !dc->items[0].vecs && dc->d == 0,
        "a tokens file: ids, no vectors");
  rank_docs_close(dc);
  dc = rank_docs_open(path, "vectors", NULL, err, sizeof err);
  CHECK(!dc && strstr(err, "expected a 'vectors' stream, got 'tokens'"), "tokens where vectors are expected: %s", err);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0, "cleanup");
}

/* A document's score does not depend on the documents it is ranked with:
 * searched alone, in a subset (a shard) or with another block size, every
 * score is bit-identical to the full search's. d = 128, where OpenBLAS's
 * small-matrix kernels round differently (rank pads small products out of
 * their range); this is what makes a sharded search mergeable exactly. */
static void test_scores_independent_of_blocking(void) {
  rng_t r;
  rng_seed(&r, 21);
  size_t d = 128;
  set_t docs = make_set(&r, 90, d, 7, "d", 1), qs = make_set(&r, 5, d, 5, "q", 0);
  rank_mode modes[] = {RANK_DENSE, RANK_MAXSIM, RANK_MAXSIM_SYM};
  for (int m = 0; m < 3; m++) {
    rank_opts o;
    rank_opts_default(&o);
    o.mode = modes[m];
    o.k = 0;
    o.threads = 1;
    o.skip_ids = special, o.nskip = 2;
    result_t full = run(&qs, &docs, &o);
    size_t diff = 0, compared = 0;
    /* shards: every third document (round robin), runs of 7, single documents;
     * queries one at a time; other block and tile sizes */
    for (int shape = 0; shape < 5; shape++) {
      rank_opts so = o;
      set_t sub = docs;
      sub.it = xmalloc(docs.n * sizeof *sub.it);
      size_t *map = xmalloc(docs.n * sizeof *map);
      for (size_t start = 0; start < (shape == 1 ? 3 : 1); start++) {
        for (size_t base = 0; base < docs.n;) {
          size_t n = 0;
          if (shape == 0) {
            for (size_t j = base; j < docs.n; j++) sub.it[n] = docs.it[j], map[n++] = j;
            base = docs.n;
            so.block_rows = 13, so.tile_rows = 3;
          } else if (shape == 1) {
            for (size_t j = start; j < docs.n; j += 3) sub.it[n] = docs.it[j], map[n++] = j;
            base = docs.n;
          } else {
            size_t len = shape == 2 ? 7 : 1;
            for (size_t j = base; j < docs.n && j < base + len; j++) sub.it[n] = docs.it[j], map[n++] = j;
            base += len;
          }
          sub.n = n;
          /* shape 4: each query alone; else all at once */
          for (size_t q0 = 0; q0 < qs.n; q0 += shape == 4 ? 1 : qs.n) {
            set_t part_q = qs;
            part_q.it = qs.it + q0, part_q.n = shape == 4 ? 1 : qs.n;
            result_t part = run(&part_q, &sub, &so);
            for (size_t qq = 0; qq < part_q.n; qq++)
              for (size_t i = 0; i < part.n[qq]; i++) {
                rank_hit h = part.h[qq * part.cap + i];
                for (size_t x = 0; x < full.n[q0 + qq]; x++) {
                  rank_hit g = full.h[(q0 + qq) * full.cap + x];
                  if (g.doc != map[h.doc]) continue;
                  compared++;
                  diff += memcmp(&g.score, &h.score, sizeof g.score) != 0;
                }
              }
            free_result(&part);
          }
        }
      }
      free(sub.it), free(map);
    }
    CHECK(diff == 0 && compared > 900, "%s: %zu scores from shards, single documents, single queries and other "
          "blocks equal the full search's bit for bit (%zu differ)", rank_mode_name(modes[m]), compared, diff);
    free_result(&full);
  }
  free_set(&docs);
  free_set(&qs);
}

static void test_ids_and_meta(void) {
  uint32_t *ids = NULL;
  size_t n = 0;
  CHECK(rank_parse_ids("101,102", &ids, &n) == 0 && n == 2 && ids[0] == 101 && ids[1] == 102, "ids '101,102' parse");
  free(ids);
  const char *bad[] = {"", "1,,2", "1,", ",1", "a", "-1", "4294967296", "1 2", NULL};
  int all_bad = 1;
  for (int i = 0; bad[i]; i++) {
    ids = NULL;
    if (rank_parse_ids(bad[i], &ids, &n) == 0) all_bad = 0, printf("# accepted '%s'\n", bad[i]);
    free(ids);
  }
  CHECK(all_bad, "malformed id lists are refused");

  rec_schema *q = rec_schema_builtin("vectors"), *d = rec_schema_builtin("vectors");
  char err[512] = "";
  CHECK(rank_meta_check(q, 8, d, 8, false, true, err, sizeof err) == 0, "no metadata on either side: accepted");
  CHECK(rank_meta_check(q, 8, d, 16, true, true, err, sizeof err) == -1 && strstr(err, "d = 8") && strstr(err, "d = 16"),
        "different d refused even with allow_model: %s", err);
  rec_meta_set(d, "model", "teacher");
  CHECK(rank_meta_check(q, 8, d, 8, false, true, err, sizeof err) == -1 && strstr(err, "'model'") && strstr(err, "unset"),
        "model set on one side only refused: %s", err);
  rec_meta_set(q, "model", "student");
  CHECK(rank_meta_check(q, 8, d, 8, false, true, err, sizeof err) == -1 && strstr(err, "'student'"),
        "different models refused: %s", err);
  CHECK(rank_meta_check(q, 8, d, 8, true, true, err, sizeof err) == 0, "allow_model accepts different models");
  rec_meta_set(q, "model", "teacher");
  rec_meta_set(q, "lang", "deu");
  rec_meta_set(d, "vocab", "abc");
  CHECK(rank_meta_check(q, 8, d, 8, false, true, err, sizeof err) == -1 && strstr(err, "'vocab'"),
        "vocab compared, other keys (lang) not: %s", err);
  rec_meta_set(q, "vocab", "abc");
  rec_meta_set(q, "pooling", "mean");
  CHECK(rank_meta_check(q, 8, d, 8, false, true, err, sizeof err) == -1 && strstr(err, "'pooling'"),
        "pooling compared when the pooled vector is used: %s", err);
  CHECK(rank_meta_check(q, 8, d, 8, false, false, err, sizeof err) == 0, "pooling ignored by token modes");
  rec_schema_free(q);
  rec_schema_free(d);
}

int main(void) {
  otc_init("test_rank");
  test_modes_against_reference();
  test_csls_reference();
  test_csls_by_hand();
  test_ties();
  test_threads_deterministic();
  test_errors_and_empties();
  test_ot_rerank();
  test_ot_csls();
  test_ids_and_meta();
  test_zero_vectors();
  test_docs_guard();
  test_scores_independent_of_blocking();
  return check_done();
}
