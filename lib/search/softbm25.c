/* softbm25.c: BM25 over soft token matches (see softbm25.h).
 *
 * The work is done once per distinct vector, not per token: a static encoder
 * (one vector per token id, as the embedded teacher and students are) gives
 * a collection of millions of tokens but only tens of thousands of distinct
 * vectors, and the soft matches between two distinct vectors are the same
 * wherever they occur. So:
 *   1. the documents' token rows are grouped by their exact bytes into
 *      distinct vectors u, each with its postings (document, count), in
 *      document order (CSR);
 *   2. per batch of queries, their rows are grouped the same way into
 *      distinct vectors v;
 *   3. for each v, the cosines against every u (sgemm of a tile of v's by a
 *      block of u's) above tau give tf_v(doc) = sum_u phi(cos(v, u)) count_u(doc)
 *      (accumulated in u order, so deterministic);
 *   4. each query sums, over its tokens, idf_v * saturated tf_v(doc).
 * A contextual encoder (every token its own vector) degrades gracefully to
 * one posting per vector.
 */
#include "search/softbm25.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "kernels/blas.h"

#define EXACT 1e-5 /* a cosine this close to 1 is an exact match */

static int skipped(uint32_t id, const uint32_t *skip, size_t nskip) {
  for (size_t i = 0; i < nskip; i++)
    if (skip[i] == id) return 1;
  return 0;
}

/* ---- distinct vectors: an open-addressing table keyed by the bytes ---- */

typedef struct {
  size_t d;
  size_t n, cap;          /* distinct vectors */
  const float **vec;      /* representative row of each */
  float *inv;             /* 1 / |vec| */
  uint32_t *slot;         /* table: index + 1, 0 = empty */
  size_t mask;
} distinct_t;

static uint64_t hash_vec(const float *v, size_t d) {
  uint64_t h = 1469598103934665603ULL;
  const unsigned char *p = (const unsigned char *)v;
  for (size_t i = 0; i < d * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h ^ (h >> 29);
}

static void distinct_init(distinct_t *t, size_t d, size_t expect) {
  memset(t, 0, sizeof *t);
  t->d = d;
  size_t cap = 64;
  while (cap < 2 * expect) cap *= 2;
  t->slot = xcalloc(cap, sizeof *t->slot);
  t->mask = cap - 1;
}

static void distinct_free(distinct_t *t) {
  free(t->vec);
  free(t->inv);
  free(t->slot);
}

/* The index of v's distinct vector (added if new). */
static uint32_t distinct_add(distinct_t *t, const float *v, float inv) {
  size_t i = (size_t)hash_vec(v, t->d) & t->mask;
  for (;; i = (i + 1) & t->mask) {
    uint32_t s = t->slot[i];
    if (!s) break;
    if (memcmp(t->vec[s - 1], v, t->d * sizeof(float)) == 0) return s - 1;
  }
  if (t->n == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 1024;
    t->vec = xrealloc(t->vec, xmul(t->cap, sizeof *t->vec));
    t->inv = xrealloc(t->inv, xmul(t->cap, sizeof *t->inv));
  }
  t->vec[t->n] = v;
  t->inv[t->n] = inv;
  t->slot[i] = (uint32_t)++t->n;
  if (2 * t->n > t->mask) { /* grow: rehash */
    size_t cap = 2 * (t->mask + 1);
    free(t->slot);
    t->slot = xcalloc(cap, sizeof *t->slot);
    t->mask = cap - 1;
    for (size_t k = 0; k < t->n; k++) {
      size_t j = (size_t)hash_vec(t->vec[k], t->d) & t->mask;
      while (t->slot[j]) j = (j + 1) & t->mask;
      t->slot[j] = (uint32_t)(k + 1);
    }
  }
  return (uint32_t)(t->n - 1);
}

/* The rows of items[0..n) kept after skip: their distinct vector each. */
typedef struct {
  uint32_t *u;    /* distinct vector of each kept row */
  size_t *first;  /* kept rows of item t: [first[t], first[t + 1]) */
} rows_t;

static int rows_make(rows_t *r, distinct_t *t, const rank_item *it, size_t n, const uint32_t *skip, size_t nskip,
                     const char *what, size_t base, char *err, size_t errlen) {
  size_t total = 0, d = t->d;
  for (size_t k = 0; k < n; k++) {
    if (nskip && it[k].n && !it[k].ids)
      return set_err(err, errlen, "%s %zu: token ids are needed to skip tokens", what, base + k + 1);
    total += it[k].n;
  }
  r->u = xmalloc(xmul(total ? total : 1, sizeof *r->u));
  r->first = xmalloc(xmul(n + 1, sizeof *r->first));
  size_t m = 0;
  for (size_t k = 0; k < n; k++) {
    r->first[k] = m;
    for (uint32_t j = 0; j < it[k].n; j++) {
      if (nskip && skipped(it[k].ids[j], skip, nskip)) continue;
      const float *v = it[k].vecs + (size_t)j * d;
      double s = 0;
      for (size_t c = 0; c < d; c++) s += (double)v[c] * v[c];
      if (!(s > 0) || !isfinite(s)) {
        set_err(err, errlen, "%s '%.*s' (record %zu), token %u: %s vector: cosine undefined", what, (int)it[k].idlen,
                it[k].id, base + k + 1, j, s > 0 ? "non-finite" : "zero");
        free(r->u), free(r->first);
        return -1;
      }
      r->u[m++] = distinct_add(t, v, (float)(1.0 / sqrt(s)));
    }
  }
  r->first[n] = m;
  return 0;
}

/* ---- the search ---- */

typedef struct {
  uint32_t doc;
  float count;
} posting;

typedef struct {
  uint32_t doc;
  double tf;
} tfent;

typedef struct {
  float *q, *db, *prod;
  double *acc;            /* nd: tf accumulator */
  uint32_t *touched;
  size_t ntouched, captouched;
  unsigned char *seen;
} worker_t;

struct softbm25_index {
  const rank_item *docs;
  size_t nd, d, nempty;
  double k1, b, tau;
  distinct_t U;           /* documents' distinct vectors */
  size_t *pfirst;         /* postings of u: [pfirst[u], pfirst[u + 1]) */
  posting *post;
  double *dl, avgdl;
  size_t block_rows, tile_rows;
};

#define BLOCK_ROWS 4096 /* distinct document vectors per sgemm */
#define TILE_ROWS 256   /* distinct query vectors per sgemm */

typedef struct {
  const softbm25_index *ix;
  const rank_item *docs;
  size_t nd, d;
  double k1, b, tau;
  size_t k;
  bool tie_desc;
  const distinct_t *U;
  const size_t *pfirst;
  const posting *post;
  const double *dl;
  double avgdl;
  size_t block_rows, tile_rows;
  worker_t *w;
  /* the current batch of queries */
  distinct_t V;
  rows_t Q;
  tfent **tf;             /* per distinct query vector: its documents */
  size_t *ntf;
  double *idf;
  size_t q0;              /* first query of the batch */
  rank_hit **hits;
  size_t *nhits;
} search_t;

static void add_touched(worker_t *w, uint32_t doc) {
  if (w->ntouched == w->captouched) {
    w->captouched = w->captouched ? 2 * w->captouched : 64;
    w->touched = xrealloc(w->touched, xmul(w->captouched, sizeof *w->touched));
  }
  w->touched[w->ntouched++] = doc;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* tf lists of the distinct query vectors [tile * tile_rows, ...) */
static void tf_tile(void *ctx, size_t tile, int wid) {
  search_t *s = ctx;
  worker_t *w = &s->w[wid];
  size_t d = s->d, v0 = tile * s->tile_rows, vr = s->V.n - v0 < s->tile_rows ? s->V.n - v0 : s->tile_rows;
  for (size_t i = 0; i < vr; i++) {
    const float *v = s->V.vec[v0 + i];
    float inv = s->V.inv[v0 + i];
    for (size_t c = 0; c < d; c++) w->q[i * d + c] = v[c] * inv;
  }
  /* matches of each v, in u order: (u, phi) per block, replayed per v */
  double tau = s->tau;
  typedef struct {
    uint32_t u;
    float phi;
  } match;
  match **mt = xcalloc(vr, sizeof *mt);
  size_t *nm = xcalloc(vr, sizeof *nm), *cm = xcalloc(vr, sizeof *cm);
  for (size_t b0 = 0; b0 < s->U->n; b0 += s->block_rows) {
    size_t br = s->U->n - b0 < s->block_rows ? s->U->n - b0 : s->block_rows;
    for (size_t j = 0; j < br; j++) {
      const float *u = s->U->vec[b0 + j];
      float inv = s->U->inv[b0 + j];
      for (size_t c = 0; c < d; c++) w->db[j * d + c] = u[c] * inv;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)vr, (int)br, (int)d, 1.0f, w->q, (int)d, w->db, (int)d,
                0.0f, w->prod, (int)br);
    for (size_t i = 0; i < vr; i++) {
      const float *pr = w->prod + i * br;
      for (size_t j = 0; j < br; j++) {
        double c = pr[j];
        if (c <= tau) continue;
        if (nm[i] == cm[i]) {
          cm[i] = cm[i] ? 2 * cm[i] : 16;
          mt[i] = xrealloc(mt[i], xmul(cm[i], sizeof **mt));
        }
        mt[i][nm[i]++] = (match){(uint32_t)(b0 + j), (float)(c >= 1 - EXACT ? 1.0 : (c - tau) / (1 - tau))};
      }
    }
  }
  double N = (double)s->nd;
  for (size_t i = 0; i < vr; i++) {
    w->ntouched = 0;
    for (size_t m = 0; m < nm[i]; m++) {
      uint32_t u = mt[i][m].u;
      double phi = mt[i][m].phi;
      for (size_t e = s->pfirst[u]; e < s->pfirst[u + 1]; e++) {
        uint32_t doc = s->post[e].doc;
        if (!w->seen[doc]) {
          w->seen[doc] = 1;
          w->acc[doc] = 0;
          add_touched(w, doc);
        }
        w->acc[doc] += phi * s->post[e].count;
      }
    }
    if (w->ntouched) qsort(w->touched, w->ntouched, sizeof *w->touched, cmp_u32);
    tfent *t = xmalloc(xmul(w->ntouched ? w->ntouched : 1, sizeof *t));
    double df = 0;
    for (size_t e = 0; e < w->ntouched; e++) {
      uint32_t doc = w->touched[e];
      w->seen[doc] = 0;
      t[e] = (tfent){doc, w->acc[doc]};
      df += w->acc[doc] < 1 ? w->acc[doc] : 1;
    }
    s->tf[v0 + i] = t;
    s->ntf[v0 + i] = w->ntouched;
    s->idf[v0 + i] = log(1 + (N - df + 0.5) / (df + 0.5));
    free(mt[i]);
  }
  free(mt), free(nm), free(cm);
}

typedef struct {
  const search_t *s;
  const double *score;
} cmp_ctx;

/* score descending, then document id ascending (descending with tie_desc) */
static int hit_cmp(const void *a, const void *b, void *ctx) {
  const cmp_ctx *c = ctx;
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  double sx = c->score[x], sy = c->score[y];
  if (sx != sy) return sx > sy ? -1 : 1;
  const rank_item *D = c->s->docs;
  int r = rank_idcmp(D[x].id, D[x].idlen, D[y].id, D[y].idlen);
  return c->s->tie_desc ? -r : r;
}

/* score query q0 + i of the batch */
static void score_query(void *ctx, size_t i, int wid) {
  search_t *s = ctx;
  worker_t *w = &s->w[wid];
  double k1 = s->k1, b = s->b;
  w->ntouched = 0;
  for (size_t r = s->Q.first[i]; r < s->Q.first[i + 1]; r++) {
    uint32_t v = s->Q.u[r];
    double idf = s->idf[v];
    for (size_t e = 0; e < s->ntf[v]; e++) {
      uint32_t doc = s->tf[v][e].doc;
      double tf = s->tf[v][e].tf;
      if (!w->seen[doc]) {
        w->seen[doc] = 1;
        w->acc[doc] = 0;
        add_touched(w, doc);
      }
      w->acc[doc] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * s->dl[doc] / s->avgdl));
    }
  }
  size_t n = 0;
  for (size_t e = 0; e < w->ntouched; e++) {
    uint32_t doc = w->touched[e];
    w->seen[doc] = 0;
    if (w->acc[doc] > 0) w->touched[n++] = doc;
  }
  cmp_ctx c = {s, w->acc};
  if (n > 1) qsort_r(w->touched, n, sizeof *w->touched, hit_cmp, &c);
  size_t k = s->k && s->k < n ? s->k : n;
  rank_hit *h = xmalloc(xmul(k ? k : 1, sizeof *h));
  for (size_t e = 0; e < k; e++) h[e] = (rank_hit){w->touched[e], w->acc[w->touched[e]]};
  s->hits[i] = h;
  s->nhits[i] = k;
}

softbm25_index *softbm25_index_new(const rank_item *docs, size_t nd, size_t d, const uint32_t *skip, size_t nskip,
                                   double k1, double b, double tau, char *err, size_t errlen) {
  if (!(tau >= 0 && tau < 1)) {
    set_err(err, errlen, "soft-bm25: match threshold %g not in [0, 1)", tau);
    return NULL;
  }
  if (!(k1 >= 0) || !(b >= 0 && b <= 1)) {
    set_err(err, errlen, "soft-bm25: k1 %g must be >= 0 and b %g in [0, 1]", k1, b);
    return NULL;
  }
  if (d == 0) {
    set_err(err, errlen, "soft-bm25: vectors of dimension 0");
    return NULL;
  }
  softbm25_index *ix = xcalloc(1, sizeof *ix);
  *ix = (softbm25_index){.docs = docs, .nd = nd, .d = d, .k1 = k1, .b = b, .tau = tau, .block_rows = BLOCK_ROWS,
                         .tile_rows = TILE_ROWS};
  size_t total = 0;
  for (size_t t = 0; t < nd; t++) total += docs[t].n;
  distinct_init(&ix->U, d, total < 65536 ? total : 65536);
  rows_t D;
  if (rows_make(&D, &ix->U, docs, nd, skip, nskip, "document", 0, err, errlen)) {
    distinct_free(&ix->U);
    free(ix);
    return NULL;
  }
  size_t nu = ix->U.n;
  ix->pfirst = xcalloc(nu + 2, sizeof *ix->pfirst);
  uint32_t *last = xmalloc(xmul(nu ? nu : 1, sizeof *last));
  for (size_t u = 0; u < nu; u++) last[u] = UINT32_MAX;
  for (size_t t = 0; t < nd; t++)
    for (size_t r = D.first[t]; r < D.first[t + 1]; r++)
      if (last[D.u[r]] != t) last[D.u[r]] = (uint32_t)t, ix->pfirst[D.u[r] + 2]++;
  for (size_t u = 0; u < nu; u++) ix->pfirst[u + 2] += ix->pfirst[u + 1];
  ix->post = xmalloc(xmul(ix->pfirst[nu + 1] ? ix->pfirst[nu + 1] : 1, sizeof *ix->post));
  for (size_t u = 0; u < nu; u++) last[u] = UINT32_MAX;
  for (size_t t = 0; t < nd; t++)
    for (size_t r = D.first[t]; r < D.first[t + 1]; r++) {
      uint32_t u = D.u[r];
      if (last[u] != t) {
        last[u] = (uint32_t)t;
        ix->post[ix->pfirst[u + 1]++] = (posting){(uint32_t)t, 1};
      } else
        ix->post[ix->pfirst[u + 1] - 1].count += 1;
    }
  free(last);
  ix->dl = xcalloc(nd ? nd : 1, sizeof *ix->dl);
  double sum = 0;
  for (size_t t = 0; t < nd; t++) {
    sum += ix->dl[t] = (double)(D.first[t + 1] - D.first[t]);
    ix->nempty += D.first[t + 1] == D.first[t];
  }
  ix->avgdl = nd && sum > 0 ? sum / (double)nd : 1;
  free(D.u), free(D.first);
  return ix;
}

void softbm25_index_free(softbm25_index *ix) {
  if (!ix) return;
  free(ix->pfirst), free(ix->post), free(ix->dl);
  distinct_free(&ix->U);
  free(ix);
}

size_t softbm25_index_empty(const softbm25_index *ix) { return ix->nempty; }

void softbm25_index_blocks(softbm25_index *ix, size_t block_rows, size_t tile_rows) {
  if (block_rows) ix->block_rows = block_rows;
  if (tile_rows) ix->tile_rows = tile_rows;
}

int softbm25_search(const softbm25_index *ix, const rank_item *queries, size_t nq, const uint32_t *qskip,
                    size_t nqskip, size_t k, bool tie_desc, int threads, size_t base, rank_emit_fn emit, void *ctx,
                    char *err, size_t errlen) {
  size_t d = ix->d, nd = ix->nd;
  search_t s = {.ix = ix, .docs = ix->docs, .nd = nd, .d = d, .k1 = ix->k1, .b = ix->b, .tau = ix->tau, .k = k,
                .tie_desc = tie_desc, .U = &ix->U, .pfirst = ix->pfirst, .post = ix->post, .dl = ix->dl,
                .avgdl = ix->avgdl, .block_rows = ix->block_rows, .tile_rows = ix->tile_rows};
  if (threads < 1) threads = otc_threads();
  int nw = pool_workers(threads);
  s.w = xcalloc((size_t)nw, sizeof *s.w);
  for (int i = 0; i < nw; i++) {
    worker_t *w = &s.w[i];
    w->q = xmalloc(xmul(xmul(s.tile_rows, d), sizeof(float)));
    w->db = xmalloc(xmul(xmul(s.block_rows, d), sizeof(float)));
    w->prod = xmalloc(xmul(xmul(s.tile_rows, s.block_rows), sizeof(float)));
    w->acc = xcalloc(nd ? nd : 1, sizeof *w->acc);
    w->seen = xcalloc(nd ? nd : 1, 1);
  }
  int blas_threads = kern_blas_serial_begin();
  int rc = 0;
  distinct_init(&s.V, d, 1024);
  if (rows_make(&s.Q, &s.V, queries, nq, qskip, nqskip, "query", base, err, errlen)) {
    rc = -1;
  } else {
    size_t nv = s.V.n ? s.V.n : 1;
    s.tf = xcalloc(nv, sizeof *s.tf);
    s.ntf = xcalloc(nv, sizeof *s.ntf);
    s.idf = xcalloc(nv, sizeof *s.idf);
    s.hits = xcalloc(nq ? nq : 1, sizeof *s.hits);
    s.nhits = xcalloc(nq ? nq : 1, sizeof *s.nhits);
    pool_each((s.V.n + s.tile_rows - 1) / s.tile_rows, nw, tf_tile, &s);
    pool_each(nq, nw, score_query, &s);
    for (size_t i = 0; i < nq; i++) {
      emit(ctx, i, s.hits[i], s.nhits[i]);
      free(s.hits[i]);
    }
    for (size_t v = 0; v < s.V.n; v++) free(s.tf[v]);
    free(s.tf), free(s.ntf), free(s.idf), free(s.hits), free(s.nhits);
    free(s.Q.u), free(s.Q.first);
  }
  distinct_free(&s.V);
  kern_blas_serial_end(blas_threads);
  for (int i = 0; i < nw; i++) {
    worker_t *w = &s.w[i];
    free(w->q), free(w->db), free(w->prod), free(w->acc), free(w->seen), free(w->touched);
  }
  free(s.w);
  return rc;
}
