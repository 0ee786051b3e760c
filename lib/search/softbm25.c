/* softbm25.c: BM25 over soft token matches (see softbm25.h). */
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

/* ---- token rows kept after skip_ids, in item order ---- */

typedef struct {
  size_t n;            /* rows */
  const float **row;   /* the vector of each row (a view) */
  float *inv;          /* 1 / |row| */
  uint32_t *item;      /* the item (document or query) of each row */
  size_t *first;       /* rows of item t: [first[t], first[t + 1]) */
} rows_t;

static int skipped(uint32_t id, const uint32_t *skip, size_t nskip) {
  for (size_t i = 0; i < nskip; i++)
    if (skip[i] == id) return 1;
  return 0;
}

static void rows_free(rows_t *r) {
  free(r->row);
  free(r->inv);
  free(r->item);
  free(r->first);
}

static int rows_make(rows_t *r, const rank_item *it, size_t n, size_t d, const uint32_t *skip, size_t nskip,
                     const char *what, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  size_t total = 0;
  for (size_t t = 0; t < n; t++) {
    if (nskip && it[t].n && !it[t].ids) return set_err(err, errlen, "%s %zu: token ids needed to skip tokens", what, t);
    total += it[t].n;
  }
  r->row = xmalloc(xmul(total, sizeof *r->row));
  r->inv = xmalloc(xmul(total, sizeof *r->inv));
  r->item = xmalloc(xmul(total, sizeof *r->item));
  r->first = xmalloc(xmul(n + 1, sizeof *r->first));
  for (size_t t = 0; t < n; t++) {
    r->first[t] = r->n;
    for (uint32_t j = 0; j < it[t].n; j++) {
      if (nskip && skipped(it[t].ids[j], skip, nskip)) continue;
      const float *v = it[t].vecs + (size_t)j * d;
      double s = 0;
      for (size_t c = 0; c < d; c++) s += (double)v[c] * v[c];
      if (!(s > 0) || !isfinite(s)) {
        set_err(err, errlen, "%s '%.*s' (record %zu), token %u: %s vector: cosine undefined", what,
                (int)it[t].idlen, it[t].id, t + 1, j, s > 0 ? "non-finite" : "zero");
        rows_free(r);
        return -1;
      }
      r->row[r->n] = v;
      r->inv[r->n] = (float)(1.0 / sqrt(s));
      r->item[r->n] = (uint32_t)t;
      r->n++;
    }
  }
  r->first[n] = r->n;
  return 0;
}

/* ---- one worker's state ---- */

typedef struct {
  uint32_t doc;
  double tf;
} posting;

typedef struct {
  posting *p;
  size_t n, cap;
} plist;

typedef struct {
  float *q, *db, *prod;  /* query tile, document block, product */
  plist *lists;          /* one per query row of the tile */
  size_t nlists;
  double *score;         /* nd */
  uint32_t *touched;     /* documents with a score, per query */
  size_t ntouched, captouched;
  unsigned char *seen;   /* nd flags */
} worker_t;

typedef struct {
  const rank_item *docs, *queries;
  size_t nd, nq, d;
  const rank_opts *o;
  const softbm25_params *p;
  rows_t D, Q;
  double *dl, avgdl;
  size_t block_rows, tile_rows;
  size_t *tile_first;    /* queries of tile t: [tile_first[t], tile_first[t + 1]) */
  size_t ntiles;
  worker_t *w;
  size_t tile_base;      /* pool_each's item i is tile tile_base + i */
  rank_hit **hits;       /* per query, until emitted */
  size_t *nhits;
} search_t;

static void plist_add(plist *l, uint32_t doc, double tf) {
  if (l->n && l->p[l->n - 1].doc == doc) {
    l->p[l->n - 1].tf += tf;
    return;
  }
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->p = xrealloc(l->p, xmul(l->cap, sizeof *l->p));
  }
  l->p[l->n++] = (posting){doc, tf};
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

/* Score the queries of one tile; their hits go to s->hits[query]. */
static void run_tile(void *ctx, size_t item, int wid) {
  search_t *s = ctx;
  size_t t = s->tile_base + item;
  worker_t *w = &s->w[wid];
  size_t d = s->d, q0 = s->tile_first[t], q1 = s->tile_first[t + 1];
  size_t r0 = s->Q.first[q0], r1 = s->Q.first[q1], qr = r1 - r0;
  for (size_t i = 0; i < qr; i++) {
    const float *v = s->Q.row[r0 + i];
    float inv = s->Q.inv[r0 + i];
    for (size_t c = 0; c < d; c++) w->q[i * d + c] = v[c] * inv;
    w->lists[i].n = 0;
  }
  double tau = s->p->tau;
  if (qr)
    for (size_t b0 = 0; b0 < s->D.n; b0 += s->block_rows) {
      size_t br = s->D.n - b0 < s->block_rows ? s->D.n - b0 : s->block_rows;
      for (size_t j = 0; j < br; j++) {
        const float *v = s->D.row[b0 + j];
        float inv = s->D.inv[b0 + j];
        for (size_t c = 0; c < d; c++) w->db[j * d + c] = v[c] * inv;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qr, (int)br, (int)d, 1.0f, w->q, (int)d, w->db,
                  (int)d, 0.0f, w->prod, (int)br);
      for (size_t i = 0; i < qr; i++) {
        const float *pr = w->prod + i * br;
        for (size_t j = 0; j < br; j++) {
          double c = pr[j];
          if (c <= tau) continue;
          double phi = c >= 1 - EXACT ? 1.0 : (c - tau) / (1 - tau);
          plist_add(&w->lists[i], s->D.item[b0 + j], phi);
        }
      }
    }
  double k1 = s->p->k1, b = s->p->b, N = (double)s->nd;
  for (size_t q = q0; q < q1; q++) {
    w->ntouched = 0;
    for (size_t r = s->Q.first[q]; r < s->Q.first[q + 1]; r++) {
      plist *l = &w->lists[r - r0];
      double df = 0;
      for (size_t e = 0; e < l->n; e++) df += l->p[e].tf < 1 ? l->p[e].tf : 1;
      double idf = log(1 + (N - df + 0.5) / (df + 0.5));
      for (size_t e = 0; e < l->n; e++) {
        uint32_t doc = l->p[e].doc;
        double tf = l->p[e].tf;
        if (!w->seen[doc]) {
          w->seen[doc] = 1;
          w->score[doc] = 0;
          if (w->ntouched == w->captouched) {
            w->captouched = w->captouched ? 2 * w->captouched : 64;
            w->touched = xrealloc(w->touched, xmul(w->captouched, sizeof *w->touched));
          }
          w->touched[w->ntouched++] = doc;
        }
        w->score[doc] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * s->dl[doc] / s->avgdl));
      }
    }
    size_t n = 0;
    for (size_t e = 0; e < w->ntouched; e++) {
      uint32_t doc = w->touched[e];
      w->seen[doc] = 0;
      if (w->score[doc] > 0) w->touched[n++] = doc;
    }
    cmp_ctx c = {s, w->score};
    qsort_r(w->touched, n, sizeof *w->touched, hit_cmp, &c);
    size_t k = s->o->k && s->o->k < n ? s->o->k : n;
    rank_hit *h = xmalloc(xmul(k ? k : 1, sizeof *h));
    for (size_t e = 0; e < k; e++) h[e] = (rank_hit){w->touched[e], w->score[w->touched[e]]};
    s->hits[q] = h;
    s->nhits[q] = k;
  }
}

int softbm25_search(const rank_item *docs, size_t nd, const rank_item *queries, size_t nq, size_t d,
                    const rank_opts *o, const softbm25_params *p, rank_emit_fn emit, void *ctx, char *err,
                    size_t errlen) {
  if (!(p->tau >= 0 && p->tau < 1)) return set_err(err, errlen, "soft-bm25: match threshold %g not in [0, 1)", p->tau);
  if (!(p->k1 >= 0) || !(p->b >= 0 && p->b <= 1))
    return set_err(err, errlen, "soft-bm25: k1 %g must be >= 0 and b %g in [0, 1]", p->k1, p->b);
  if (d == 0 && (nd || nq)) return set_err(err, errlen, "soft-bm25: vectors of dimension 0");
  search_t s = {.docs = docs, .queries = queries, .nd = nd, .nq = nq, .d = d, .o = o, .p = p};
  const uint32_t *qskip = o->q_skip_ids ? o->q_skip_ids : o->skip_ids;
  size_t nqskip = o->q_skip_ids ? o->nq_skip : o->nskip;
  if (rows_make(&s.D, docs, nd, d, o->skip_ids, o->nskip, "document", err, errlen)) return -1;
  if (rows_make(&s.Q, queries, nq, d, qskip, nqskip, "query", err, errlen)) {
    rows_free(&s.D);
    return -1;
  }
  s.dl = xcalloc(nd ? nd : 1, sizeof *s.dl);
  double total = 0;
  for (size_t t = 0; t < nd; t++) total += (double)(s.dl[t] = (double)(s.D.first[t + 1] - s.D.first[t]));
  s.avgdl = nd && total > 0 ? total / (double)nd : 1;
  s.block_rows = o->block_rows ? o->block_rows : 2048;
  s.tile_rows = o->tile_rows ? o->tile_rows : 256;
  /* tiles: consecutive queries up to tile_rows rows (a longer query alone) */
  s.tile_first = xmalloc(xmul(nq + 1, sizeof *s.tile_first));
  size_t maxrows = 1;
  for (size_t q = 0; q < nq;) {
    size_t q1 = q + 1;
    while (q1 < nq && s.Q.first[q1 + 1] - s.Q.first[q] <= s.tile_rows) q1++;
    s.tile_first[s.ntiles++] = q;
    if (s.Q.first[q1] - s.Q.first[q] > maxrows) maxrows = s.Q.first[q1] - s.Q.first[q];
    q = q1;
  }
  s.tile_first[s.ntiles] = nq;
  int threads = o->threads > 0 ? o->threads : otc_threads();
  int nw = pool_workers(threads);
  s.w = xcalloc((size_t)nw, sizeof *s.w);
  for (int i = 0; i < nw; i++) {
    worker_t *w = &s.w[i];
    w->q = xmalloc(xmul(xmul(maxrows, d), sizeof(float)));
    w->db = xmalloc(xmul(xmul(s.block_rows, d), sizeof(float)));
    w->prod = xmalloc(xmul(xmul(maxrows, s.block_rows), sizeof(float)));
    w->lists = xcalloc(maxrows, sizeof *w->lists);
    w->nlists = maxrows;
    w->score = xcalloc(nd ? nd : 1, sizeof *w->score);
    w->seen = xcalloc(nd ? nd : 1, 1);
  }
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  size_t per_batch = (size_t)nw * 8;
  s.hits = xcalloc(nq ? nq : 1, sizeof *s.hits);
  s.nhits = xcalloc(nq ? nq : 1, sizeof *s.nhits);
  for (size_t t0 = 0; t0 < s.ntiles; t0 += per_batch) {
    size_t t1 = t0 + per_batch < s.ntiles ? t0 + per_batch : s.ntiles;
    s.tile_base = t0;
    pool_each(t1 - t0, nw, run_tile, &s);
    for (size_t q = s.tile_first[t0]; q < s.tile_first[t1]; q++) {
      emit(ctx, q, s.hits[q], s.nhits[q]);
      free(s.hits[q]);
      s.hits[q] = NULL;
    }
  }
  openblas_set_num_threads(blas_threads);
  for (int i = 0; i < nw; i++) {
    worker_t *w = &s.w[i];
    for (size_t l = 0; l < w->nlists; l++) free(w->lists[l].p);
    free(w->q), free(w->db), free(w->prod), free(w->lists), free(w->score), free(w->seen), free(w->touched);
  }
  free(s.w), free(s.hits), free(s.nhits), free(s.tile_first), free(s.dl);
  rows_free(&s.D);
  rows_free(&s.Q);
  return 0;
}
