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

#define EXACT 1e-5 /* a cosine this close to 1 is an exact match */

void softbm25_params_default(softbm25_params *p) {
  p->k1 = 0.9;
  p->b = 0.4;
  p->tau = 0.5;
}

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

typedef struct {
  const rank_item *docs;
  size_t nd, d;
  const rank_opts *o;
  const softbm25_params *p;
  distinct_t U;           /* documents' distinct vectors */
  size_t *pfirst;         /* postings of u: [pfirst[u], pfirst[u + 1]) */
  posting *post;
  double *dl, avgdl;
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
  double tau = s->p->tau;
  typedef struct {
    uint32_t u;
    float phi;
  } match;
  match **mt = xcalloc(vr, sizeof *mt);
  size_t *nm = xcalloc(vr, sizeof *nm), *cm = xcalloc(vr, sizeof *cm);
  for (size_t b0 = 0; b0 < s->U.n; b0 += s->block_rows) {
    size_t br = s->U.n - b0 < s->block_rows ? s->U.n - b0 : s->block_rows;
    for (size_t j = 0; j < br; j++) {
      const float *u = s->U.vec[b0 + j];
      float inv = s->U.inv[b0 + j];
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
    qsort(w->touched, w->ntouched, sizeof *w->touched, cmp_u32);
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
  return c->s->o->tie_desc ? -r : r;
}

/* score query q0 + i of the batch */
static void score_query(void *ctx, size_t i, int wid) {
  search_t *s = ctx;
  worker_t *w = &s->w[wid];
  double k1 = s->p->k1, b = s->p->b;
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
  qsort_r(w->touched, n, sizeof *w->touched, hit_cmp, &c);
  size_t k = s->o->k && s->o->k < n ? s->o->k : n;
  rank_hit *h = xmalloc(xmul(k ? k : 1, sizeof *h));
  for (size_t e = 0; e < k; e++) h[e] = (rank_hit){w->touched[e], w->acc[w->touched[e]]};
  s->hits[i] = h;
  s->nhits[i] = k;
}

int softbm25_search(const rank_item *docs, size_t nd, const rank_item *queries, size_t nq, size_t d,
                    const rank_opts *o, const softbm25_params *p, rank_emit_fn emit, void *ctx, char *err,
                    size_t errlen) {
  if (!(p->tau >= 0 && p->tau < 1)) return set_err(err, errlen, "soft-bm25: match threshold %g not in [0, 1)", p->tau);
  if (!(p->k1 >= 0) || !(p->b >= 0 && p->b <= 1))
    return set_err(err, errlen, "soft-bm25: k1 %g must be >= 0 and b %g in [0, 1]", p->k1, p->b);
  if (d == 0 && (nd || nq)) return set_err(err, errlen, "soft-bm25: vectors of dimension 0");
  search_t s = {.docs = docs, .nd = nd, .d = d, .o = o, .p = p};
  const uint32_t *qskip = o->q_skip_ids ? o->q_skip_ids : o->skip_ids;
  size_t nqskip = o->q_skip_ids ? o->nq_skip : o->nskip;

  /* documents: distinct vectors and their postings */
  size_t total = 0;
  for (size_t t = 0; t < nd; t++) total += docs[t].n;
  distinct_init(&s.U, d, total < 65536 ? total : 65536);
  rows_t D;
  if (rows_make(&D, &s.U, docs, nd, o->skip_ids, o->nskip, "document", 0, err, errlen)) {
    distinct_free(&s.U);
    return -1;
  }
  s.pfirst = xcalloc(s.U.n + 2, sizeof *s.pfirst);
  uint32_t *last = xmalloc(xmul(s.U.n ? s.U.n : 1, sizeof *last));
  for (size_t u = 0; u < s.U.n; u++) last[u] = UINT32_MAX;
  for (size_t t = 0; t < nd; t++)
    for (size_t r = D.first[t]; r < D.first[t + 1]; r++)
      if (last[D.u[r]] != t) last[D.u[r]] = (uint32_t)t, s.pfirst[D.u[r] + 2]++;
  for (size_t u = 0; u < s.U.n; u++) s.pfirst[u + 2] += s.pfirst[u + 1];
  s.post = xmalloc(xmul(s.pfirst[s.U.n + 1] ? s.pfirst[s.U.n + 1] : 1, sizeof *s.post));
  for (size_t u = 0; u < s.U.n; u++) last[u] = UINT32_MAX;
  for (size_t t = 0; t < nd; t++)
    for (size_t r = D.first[t]; r < D.first[t + 1]; r++) {
      uint32_t u = D.u[r];
      if (last[u] != t) {
        last[u] = (uint32_t)t;
        s.post[s.pfirst[u + 1]++] = (posting){(uint32_t)t, 1};
      } else
        s.post[s.pfirst[u + 1] - 1].count += 1;
    }
  free(last);
  s.dl = xcalloc(nd ? nd : 1, sizeof *s.dl);
  double sum = 0;
  for (size_t t = 0; t < nd; t++) sum += s.dl[t] = (double)(D.first[t + 1] - D.first[t]);
  s.avgdl = nd && sum > 0 ? sum / (double)nd : 1;
  free(D.u), free(D.first);

  s.block_rows = o->block_rows ? o->block_rows : 4096;
  s.tile_rows = o->tile_rows ? o->tile_rows : 256;
  int threads = o->threads > 0 ? o->threads : otc_threads();
  int nw = pool_workers(threads);
  s.w = xcalloc((size_t)nw, sizeof *s.w);
  for (int i = 0; i < nw; i++) {
    worker_t *w = &s.w[i];
    w->q = xmalloc(xmul(xmul(s.tile_rows, d ? d : 1), sizeof(float)));
    w->db = xmalloc(xmul(xmul(s.block_rows, d ? d : 1), sizeof(float)));
    w->prod = xmalloc(xmul(xmul(s.tile_rows, s.block_rows), sizeof(float)));
    w->acc = xcalloc(nd ? nd : 1, sizeof *w->acc);
    w->seen = xcalloc(nd ? nd : 1, 1);
  }
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  int rc = 0;
  size_t batch = o->batch ? o->batch : 4096;
  for (size_t q0 = 0; q0 < nq && rc == 0; q0 += batch) {
    size_t nb = nq - q0 < batch ? nq - q0 : batch;
    distinct_init(&s.V, d, 1024);
    if (rows_make(&s.Q, &s.V, queries + q0, nb, qskip, nqskip, "query", q0, err, errlen)) {
      distinct_free(&s.V);
      rc = -1;
      break;
    }
    s.tf = xcalloc(s.V.n ? s.V.n : 1, sizeof *s.tf);
    s.ntf = xcalloc(s.V.n ? s.V.n : 1, sizeof *s.ntf);
    s.idf = xcalloc(s.V.n ? s.V.n : 1, sizeof *s.idf);
    s.hits = xcalloc(nb, sizeof *s.hits);
    s.nhits = xcalloc(nb, sizeof *s.nhits);
    s.q0 = q0;
    pool_each((s.V.n + s.tile_rows - 1) / s.tile_rows, nw, tf_tile, &s);
    pool_each(nb, nw, score_query, &s);
    for (size_t i = 0; i < nb; i++) {
      emit(ctx, q0 + i, s.hits[i], s.nhits[i]);
      free(s.hits[i]);
    }
    for (size_t v = 0; v < s.V.n; v++) free(s.tf[v]);
    free(s.tf), free(s.ntf), free(s.idf), free(s.hits), free(s.nhits);
    free(s.Q.u), free(s.Q.first);
    distinct_free(&s.V);
  }
  openblas_set_num_threads(blas_threads);
  for (int i = 0; i < nw; i++) {
    worker_t *w = &s.w[i];
    free(w->q), free(w->db), free(w->prod), free(w->acc), free(w->seen), free(w->touched);
  }
  free(s.w), free(s.pfirst), free(s.post), free(s.dl);
  distinct_free(&s.U);
  return rc;
}
