/* test_softbm25: rank --mode soft-bm25 (search/softbm25.h) against scores
 * worked out by hand, and against BM25 over token ids computed here
 * independently, for a static encoder (one direction per id). */
#include <math.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "check.h"
#include "search/softbm25.h"

typedef struct {
  size_t n;
  uint32_t doc[64];
  double score[64];
} got_t;

typedef struct {
  got_t q[64];
} run_t;

static void emit(void *ctx, size_t query, const rank_hit *hits, size_t nhits) {
  run_t *r = ctx;
  r->q[query].n = nhits;
  for (size_t i = 0; i < nhits && i < 64; i++) r->q[query].doc[i] = hits[i].doc, r->q[query].score[i] = hits[i].score;
}

static rank_item item(const char *id, uint32_t n, const float *vecs, const uint32_t *ids) {
  return (rank_item){id, strlen(id), n, vecs, ids, NULL};
}

typedef struct {
  size_t k;
  bool tie_desc;
  int threads;
  const uint32_t *skip;
  size_t nskip;
  double tau;
  size_t block_rows, tile_rows;
} opts_t;

/* index + search + free, as rank does */
static int soft(const rank_item *docs, size_t nd, const rank_item *qs, size_t nq, size_t d, const opts_t *o, run_t *r,
                char *err, size_t errlen) {
  softbm25_index *ix = softbm25_index_new(docs, nd, d, o->skip, o->nskip, 0.9, 0.4, o->tau, err, errlen);
  if (!ix) return -1;
  softbm25_index_blocks(ix, o->block_rows, o->tile_rows);
  int rc = softbm25_search(ix, qs, nq, o->skip, o->nskip, o->k, o->tie_desc, o->threads, 0, emit, r, err, errlen);
  softbm25_index_free(ix);
  return rc;
}

/* Lucene BM25 term weight, written out as in the header. */
static double bm25(double tf, double df, double N, double dl, double avgdl, double k1, double b) {
  double idf = log(1 + (N - df + 0.5) / (df + 0.5));
  return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl));
}

int main(void) {
  opts_t o = {.k = 0, .threads = 1, .tau = 0.5};
  char err[256];

  /* ---- by hand: d = 3, ids 0, 1, 2 are the unit axes */
  static const float e0[3] = {1, 0, 0}, e1[3] = {0, 1, 0}, e2[3] = {0, 0, 1};
  float d0[9], d1[3], d2[6];
  memcpy(d0, e0, 12), memcpy(d0 + 3, e0, 12), memcpy(d0 + 6, e1, 12);
  memcpy(d1, e1, 12);
  memcpy(d2, e2, 12), memcpy(d2 + 3, e2, 12);
  uint32_t i0[3] = {0, 0, 1}, i1[1] = {1}, i2[2] = {2, 2};
  rank_item docs[3] = {item("D0", 3, d0, i0), item("D1", 1, d1, i1), item("D2", 2, d2, i2)};
  /* N = 3, dl = 3, 1, 2, avgdl = 2 */
  float qv[6];
  memcpy(qv, e0, 12);
  double c = 0.75, s = sqrt(1 - c * c); /* second query: cos 0.75 to e0, 0.661 to e1 */
  qv[3] = (float)c, qv[4] = (float)s, qv[5] = 0;
  uint32_t qi[2] = {0, 7};
  rank_item qs[2] = {item("q-exact", 1, qv, qi), item("q-soft", 1, qv + 3, qi + 1)};
  static run_t r;
  CHECK(soft(docs, 3, qs, 2, 3, &o, &r, err, sizeof err) == 0, "search: %s", err);
  /* exact: e0 occurs twice in D0 only: tf 2, df 1 */
  double want = bm25(2, 1, 3, 3, 2, 0.9, 0.4);
  CHECK(r.q[0].n == 1 && r.q[0].doc[0] == 0 && check_close(r.q[0].score[0], want, 1e-6, 0),
        "exact match = BM25: D0 %.9f (want %.9f), %zu hits", r.q[0].score[0], want, r.q[0].n);
  /* soft: phi(0.75) = 0.5 per e0, phi(0.6614) = 0.3229 per e1 */
  double pa = (c - 0.5) / 0.5, pb = (s - 0.5) / 0.5;
  double tf0 = 2 * pa + pb, tf1 = pb, df = 1 + pb; /* min(1, tf0) + min(1, tf1) */
  double w0 = bm25(tf0, df, 3, 3, 2, 0.9, 0.4), w1 = bm25(tf1, df, 3, 1, 2, 0.9, 0.4);
  CHECK(r.q[1].n == 2 && r.q[1].doc[0] == 0 && r.q[1].doc[1] == 1, "soft match: D0 then D1, D2 (no match) not returned");
  CHECK(check_close(r.q[1].score[0], w0, 1e-5, 0) && check_close(r.q[1].score[1], w1, 1e-5, 0),
        "soft tf and df: %.7f %.7f (want %.7f %.7f)", r.q[1].score[0], r.q[1].score[1], w0, w1);
  /* a higher threshold cuts the e1 match (0.661 < 0.7) */
  o.tau = 0.7;
  soft(docs, 3, qs, 2, 3, &o, &r, err, sizeof err);
  double tfh = 2 * (c - 0.7) / 0.3;
  CHECK(r.q[1].n == 1 && check_close(r.q[1].score[0], bm25(tfh, tfh, 3, 3, 2, 0.9, 0.4), 1e-5, 0),
        "--match-threshold 0.7: only D0 (%zu hits)", r.q[1].n);
  o.tau = 0.5;
  /* skip ids: leaving id 2 out empties D2 (dl 0, so avgdl 4/3) */
  uint32_t skip[1] = {2};
  o.skip = skip, o.nskip = 1;
  soft(docs, 3, qs, 2, 3, &o, &r, err, sizeof err);
  CHECK(r.q[0].n == 1 && check_close(r.q[0].score[0], bm25(2, 1, 3, 3, 4.0 / 3, 0.9, 0.4), 1e-6, 0),
        "skip ids change dl and avgdl: %.9f", r.q[0].score[0]);
  o.skip = NULL, o.nskip = 0;
  /* ties: two identical documents, order by id (asc, then desc) */
  rank_item twins[2] = {item("b", 1, e0, i0), item("a", 1, e0, i0)};
  soft(twins, 2, qs, 1, 3, &o, &r, err, sizeof err);
  CHECK(r.q[0].n == 2 && r.q[0].doc[0] == 1 && r.q[0].score[0] == r.q[0].score[1], "tie: docid 'a' first");
  o.tie_desc = true;
  soft(twins, 2, qs, 1, 3, &o, &r, err, sizeof err);
  CHECK(r.q[0].n == 2 && r.q[0].doc[0] == 0, "tie_desc: docid 'b' first");
  o.tie_desc = false;
  /* a zero vector is an error naming it */
  static const float zero[3] = {0, 0, 0};
  rank_item bad[1] = {item("Z", 1, zero, i0)};
  CHECK(soft(bad, 1, qs, 1, 3, &o, &r, err, sizeof err) == -1 && strstr(err, "'Z'") &&
            strstr(err, "zero vector"),
        "zero document vector refused: %s", err);

  /* ---- a static encoder over 40 ids in d = 64 (random directions, no two
   * within 0.5): soft-bm25 must equal BM25 over the ids, for 1 and 3 threads */
  enum { V = 40, DIM = 64, ND = 60, NQ = 12 };
  static float table[V][DIM];
  rng_t g;
  rng_seed(&g, 7);
  for (int v = 0; v < V; v++) {
    double n = 0;
    for (int k = 0; k < DIM; k++) {
      table[v][k] = (float)rng_normal(&g);
      n += (double)table[v][k] * table[v][k];
    }
    for (int k = 0; k < DIM; k++) table[v][k] = (float)(table[v][k] / sqrt(n));
  }
  double maxcos = 0;
  for (int a = 0; a < V; a++)
    for (int b2 = a + 1; b2 < V; b2++) {
      double dot = 0;
      for (int k = 0; k < DIM; k++) dot += (double)table[a][k] * table[b2][k];
      if (fabs(dot) > maxcos) maxcos = fabs(dot);
    }
  CHECK(maxcos < 0.5, "random directions stay below the threshold (max |cos| %.3f)", maxcos);
  static uint32_t dids[ND][12], qids[NQ][5];
  static float dvec[ND][12 * DIM], qvec[NQ][5 * DIM];
  static char names[ND + NQ][8];
  rank_item D[ND], Q[NQ];
  size_t dl[ND];
  double total = 0;
  for (int t = 0; t < ND; t++) {
    dl[t] = 1 + rng_below(&g, 12);
    for (size_t j = 0; j < dl[t]; j++) {
      dids[t][j] = (uint32_t)rng_below(&g, V / 2) * (j % 3 ? 1 : 2) % V; /* skewed: some ids frequent */
      memcpy(dvec[t] + j * DIM, table[dids[t][j]], sizeof table[0]);
    }
    snprintf(names[t], 8, "d%02d", t);
    D[t] = item(names[t], (uint32_t)dl[t], dvec[t], dids[t]);
    total += (double)dl[t];
  }
  for (int t = 0; t < NQ; t++) {
    uint32_t n = 1 + (uint32_t)rng_below(&g, 5);
    for (uint32_t j = 0; j < n; j++) {
      qids[t][j] = (uint32_t)rng_below(&g, V);
      memcpy(qvec[t] + j * DIM, table[qids[t][j]], sizeof table[0]);
    }
    snprintf(names[ND + t], 8, "q%02d", t);
    Q[t] = item(names[ND + t], n, qvec[t], qids[t]);
  }
  static run_t r1, r3;
  o.block_rows = 7, o.tile_rows = 3; /* many blocks and tiles */
  err[0] = 0;
  CHECK(soft(D, ND, Q, NQ, DIM, &o, &r1, err, sizeof err) == 0, "random collection: %s", err);
  o.threads = 3;
  soft(D, ND, Q, NQ, DIM, &o, &r3, err, sizeof err);
  CHECK(memcmp(&r1, &r3, sizeof r1) == 0, "1 and 3 threads: identical results");
  double worst = 0;
  int order_ok = 1;
  for (int t = 0; t < NQ; t++) {
    double ref[ND] = {0};
    for (uint32_t j = 0; j < Q[t].n; j++) {
      double df = 0;
      for (int u = 0; u < ND; u++) {
        int has = 0;
        for (size_t k = 0; k < dl[u]; k++) has |= dids[u][k] == qids[t][j];
        df += has;
      }
      for (int u = 0; u < ND; u++) {
        double tf = 0;
        for (size_t k = 0; k < dl[u]; k++) tf += dids[u][k] == qids[t][j];
        if (tf > 0) ref[u] += bm25(tf, df, ND, (double)dl[u], total / ND, 0.9, 0.4);
      }
    }
    size_t nref = 0;
    for (int u = 0; u < ND; u++) nref += ref[u] > 0;
    if (r1.q[t].n != nref) order_ok = 0;
    for (size_t h = 0; h < r1.q[t].n; h++) {
      double e = fabs(r1.q[t].score[h] - ref[r1.q[t].doc[h]]);
      if (e > worst) worst = e;
      if (h && r1.q[t].score[h] > r1.q[t].score[h - 1]) order_ok = 0;
    }
  }
  CHECK(order_ok, "every document sharing an id is returned, best first");
  CHECK(worst < 1e-5, "static encoder: soft-bm25 = BM25 over ids (max |diff| %.2g)", worst);
  return check_done();
}
