/* rank.c: exact dense / late-interaction search with CSLS; see rank.h. */
#include "search/rank.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ot/ot.h"
#include "search/bm25.h"
#include "search/softbm25.h"
#include "search/hits.h"
#include "base/pool.h"
#include "base/util.h"
#include "kernels/blas.h"
#include "kernels/vec.h"

/* Rows of one document block and of one query tile. Large enough that each
 * sgemm call is a few GFLOP at d = 768 (near the kernel's peak), small enough
 * that a tile of products (TILE_ROWS x BLOCK_ROWS floats, 8 MiB) stays cheap.
 * Fixed constants, not functions of the thread count: that is what makes the
 * output independent of --threads. */
#define BLOCK_ROWS 2048
#define TILE_ROWS 1024
/* Query rows per batch (bounds the batch's query matrix: 48 MiB at d = 768). */
#define BATCH_ROWS 16384
#define DEFAULT_BATCH 4096
/* k = 0 keeps a dense score array per batch; keep it under this. */
#define ALL_SCORES_BYTES ((size_t)128 << 20)

struct rank_index {
  const rank_item *docs;
  size_t ndocs, d;
  rank_mode mode;          /* effective first-stage mode (ot -> its base) */
  rank_sim sim;
  bool pool_mean;
  bool need_tokens;        /* ot: an item without tokens cannot be transported */
  uint32_t *skip[2];       /* sorted copies of the skipped ids: [DOC], [QUERY] */
  size_t nskip[2];
  uint32_t *order;         /* order[doc] = tie-break rank (0 = wins ties) */
  uint32_t *rows;          /* rows[doc] = matrix rows the document contributes (0 = empty) */
  size_t nempty, nonempty;
  size_t nblocks;
  size_t *block_doc;       /* block b = documents [block_doc[b], block_doc[b+1]) */
  size_t max_block_rows, max_block_docs;
  size_t tile_rows;
  bool zero_check;         /* cosine in play (sim cos, or ot's cost): zero vectors are errors */
  bm25_index *bm25;        /* mode bm25: the inverted index instead of all the above */
  softbm25_index *soft;    /* mode soft-bm25: distinct vectors and postings instead */
};

void rank_opts_default(rank_opts *o) {
  memset(o, 0, sizeof *o);
  o->mode = RANK_DENSE;
  o->sim = RANK_COS;
  o->k = 100;
  o->ot_base = RANK_MAXSIM_SYM;
  o->bm25_k1 = BM25_K1;
  o->bm25_b = BM25_B;
  o->soft_tau = 0.5;
}

static const char *const mode_names[] = {"dense", "maxsim", "maxsim-sym", "ot", "bm25", "soft-bm25"};
#define NMODES 6

const char *rank_mode_name(rank_mode m) {
  return (unsigned)m < NMODES ? mode_names[m] : "?";
}

int rank_mode_parse(const char *s, rank_mode *out) {
  for (int i = 0; i < NMODES; i++)
    if (!strcmp(s, mode_names[i])) {
      *out = (rank_mode)i;
      return 0;
    }
  return -1;
}

const char rank_bm25_csls_reason[] =
    "CSLS is not defined for bm25: it corrects the hubness of nearest neighbours in an embedding space, "
    "where every score is a similarity on one scale; BM25 scores are sums of idf weights that grow with "
    "the query's length and have no such scale, so r_q and r_d would mix incomparable numbers";

int rank_idcmp(const char *a, size_t alen, const char *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = memcmp(a, b, n);
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

enum { DOC = 0, QUERY = 1 };

static bool is_skipped(const rank_index *ix, int side, uint32_t id) {
  return sorted_u32_has(ix->skip[side], ix->nskip[side], id);
}

static size_t usable_tokens(const rank_index *ix, int side, const rank_item *it) {
  if (!ix->nskip[side] || !it->ids) return it->n;
  size_t c = 0;
  for (uint32_t i = 0; i < it->n; i++) c += !is_skipped(ix, side, it->ids[i]);
  return c;
}

/* Rows an item contributes to the products under the index's mode. */
static size_t item_rows(const rank_index *ix, int side, const rank_item *it) {
  size_t u = usable_tokens(ix, side, it);
  if (ix->need_tokens && u == 0) return 0;
  if (ix->mode == RANK_DENSE) return (it->vec && !ix->pool_mean) || u > 0 ? 1 : 0;
  return u;
}

/* Normalise x under cos; false for a zero vector (left as it is), which has
 * no direction, so its cosine with anything is undefined. Under dot, only
 * the check (ot's cosine cost needs it whatever the first stage). */
static bool normalize_row(float *x, size_t d, bool normalize) {
  double s = 0;
  for (size_t i = 0; i < d; i++) s += (double)x[i] * x[i];
  if (s <= 0) return false;
  if (!normalize) return true;
  double inv = 1.0 / sqrt(s);
  for (size_t i = 0; i < d; i++) x[i] = (float)(x[i] * inv);
  return true;
}

/* Where item_write_rows found a zero vector: a token's index, or these. */
enum { ROWS_OK = -1, ROWS_ZERO_POOLED = -2, ROWS_ZERO_MEAN = -3 };

/* Write the item's rows (item_rows() of them) at out, as they enter the
 * products. Returns ROWS_OK, or where a zero vector is (when cosine is in
 * play: ix->zero_check); the rows are then not all written. */
static long item_write_rows(const rank_index *ix, int side, const rank_item *it, float *out, double *tmp) {
  size_t d = ix->d;
  bool cos = ix->sim == RANK_COS;
  if (ix->mode == RANK_DENSE) {
    long where = ROWS_ZERO_MEAN;
    if (it->vec && !ix->pool_mean) {
      memcpy(out, it->vec, d * sizeof *out);
      where = ROWS_ZERO_POOLED;
    } else if (it->n == 1 && usable_tokens(ix, side, it) == 1) {
      memcpy(out, it->vecs, d * sizeof *out); /* the mean of one vector, exactly */
      where = 0;
    } else {
      memset(tmp, 0, d * sizeof *tmp);
      size_t c = 0;
      for (uint32_t t = 0; t < it->n; t++) {
        if (ix->nskip[side] && it->ids && is_skipped(ix, side, it->ids[t])) continue;
        const float *v = it->vecs + (size_t)t * d;
        for (size_t i = 0; i < d; i++) tmp[i] += v[i];
        c++;
      }
      for (size_t i = 0; i < d; i++) out[i] = (float)(tmp[i] / (double)c);
    }
    if (ix->zero_check && !normalize_row(out, d, cos)) return where;
    return ROWS_OK;
  }
  size_t r = 0;
  for (uint32_t t = 0; t < it->n; t++) {
    if (ix->nskip[side] && it->ids && is_skipped(ix, side, it->ids[t])) continue;
    float *o = out + r * d;
    memcpy(o, it->vecs + (size_t)t * d, d * sizeof *o);
    if (ix->zero_check && !normalize_row(o, d, cos)) return (long)t;
    r++;
  }
  return ROWS_OK;
}

/* "NAME: document record 3 ('d3'), token 1: cosine undefined: zero vector" */
static void zero_msg(char *err, size_t errlen, const rank_opts *o, int side, size_t rec, const rank_item *it,
                     long where) {
  char pos[64];
  if (where >= 0) snprintf(pos, sizeof pos, "token %ld", where);
  else snprintf(pos, sizeof pos, "%s", where == ROWS_ZERO_POOLED ? "pooled vector 'vec'" : "mean of its token vectors");
  const char *name = side == DOC ? o->doc_name : o->query_name;
  set_err(err, errlen, "%s: %s record %zu ('%.*s'), %s: cosine undefined: zero vector",
          name ? name : side == DOC ? "documents" : "queries", side == DOC ? "document" : "query", rec,
          (int)(it->idlen > 200 ? 200 : it->idlen), it->id, pos);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* bm25: the tie order and the inverted index; no vectors, no blocks. */
static rank_index *index_bm25(const rank_item *docs, size_t ndocs, const rank_opts *o, char *err, size_t errlen) {
  rank_index *ix = xcalloc(1, sizeof *ix);
  ix->docs = docs;
  ix->ndocs = ndocs;
  ix->mode = RANK_BM25;
  ix->order = rank_tie_order(docs, ndocs, o->tie_desc, err, errlen);
  if (ix->order)
    ix->bm25 = bm25_index_new(docs, ndocs, o->skip_ids, o->nskip, o->bm25_k1, o->bm25_b, ix->order, err, errlen);
  if (!ix->bm25) {
    rank_index_free(ix);
    return NULL;
  }
  ix->nempty = bm25_index_empty(ix->bm25);
  ix->nonempty = ndocs - ix->nempty;
  return ix;
}

rank_index *rank_index_new(const rank_item *docs, size_t ndocs, size_t d, const rank_opts *o,
                           char *err, size_t errlen) {
  if (ndocs > UINT32_MAX - 1) {
    set_err(err, errlen, "too many documents (%zu; at most %u)", ndocs, UINT32_MAX - 1);
    return NULL;
  }
  if (o->mode == RANK_BM25) return index_bm25(docs, ndocs, o, err, errlen);
  if (o->mode == RANK_SOFT_BM25) {
    rank_index *ix = xcalloc(1, sizeof *ix);
    ix->docs = docs;
    ix->ndocs = ndocs;
    ix->d = d;
    ix->mode = RANK_SOFT_BM25;
    ix->soft = softbm25_index_new(docs, ndocs, d, o->skip_ids, o->nskip, o->bm25_k1, o->bm25_b, o->soft_tau, err,
                                  errlen);
    if (!ix->soft) {
      free(ix);
      return NULL;
    }
    ix->nempty = softbm25_index_empty(ix->soft);
    ix->nonempty = ndocs - ix->nempty;
    return ix;
  }
  if (d == 0) {
    set_err(err, errlen, "vector dimension is 0");
    return NULL;
  }
  rank_index *ix = xcalloc(1, sizeof *ix);
  ix->docs = docs;
  ix->ndocs = ndocs;
  ix->d = d;
  ix->mode = o->mode == RANK_OT ? o->ot_base : o->mode;
  ix->sim = o->sim;
  ix->pool_mean = o->pool_mean;
  ix->need_tokens = o->mode == RANK_OT;
  ix->zero_check = o->sim == RANK_COS || o->mode == RANK_OT;
  size_t block_rows = o->block_rows ? o->block_rows : BLOCK_ROWS;
  ix->tile_rows = o->tile_rows ? o->tile_rows : TILE_ROWS;
  if (ix->mode == RANK_OT || ix->mode == RANK_BM25 || ix->mode == RANK_SOFT_BM25) {
    set_err(err, errlen, "the first stage of 'ot' cannot be '%s'", rank_mode_name(ix->mode));
    free(ix);
    return NULL;
  }
  for (int side = 0; side < 2; side++) {
    const uint32_t *ids = o->skip_ids;
    size_t n = o->nskip;
    if (side == QUERY && o->q_skip_ids) ids = o->q_skip_ids, n = o->nq_skip;
    ix->nskip[side] = n;
    ix->skip[side] = xmalloc((n + 1) * sizeof(uint32_t));
    if (n) memcpy(ix->skip[side], ids, n * sizeof(uint32_t));
    qsort(ix->skip[side], n, sizeof(uint32_t), cmp_u32);
  }

  ix->order = rank_tie_order(docs, ndocs, o->tie_desc, err, errlen);
  if (!ix->order) {
    rank_index_free(ix);
    return NULL;
  }

  ix->rows = xmalloc((ndocs + 1) * sizeof *ix->rows);
  for (size_t i = 0; i < ndocs; i++) {
    size_t r = item_rows(ix, DOC, &docs[i]);
    if (r > UINT32_MAX) r = UINT32_MAX; /* cannot happen: a record is < 1 GiB */
    ix->rows[i] = (uint32_t)r;
    if (r) ix->nonempty++;
    else ix->nempty++;
  }

  /* Blocks: consecutive documents up to BLOCK_ROWS rows (a longer document
   * alone). Empty documents are skipped inside blocks. */
  size_t cap = 16;
  ix->block_doc = xmalloc(cap * sizeof *ix->block_doc);
  ix->block_doc[0] = 0;
  size_t rows = 0, bdocs = 0;
  for (size_t i = 0; i < ndocs; i++) {
    if (rows > 0 && rows + ix->rows[i] > block_rows) {
      if (ix->nblocks + 2 > cap) ix->block_doc = xrealloc(ix->block_doc, (cap *= 2) * sizeof *ix->block_doc);
      ix->block_doc[++ix->nblocks] = i;
      if (rows > ix->max_block_rows) ix->max_block_rows = rows;
      if (bdocs > ix->max_block_docs) ix->max_block_docs = bdocs;
      rows = bdocs = 0;
    }
    rows += ix->rows[i];
    bdocs++;
  }
  if (rows > 0 || ndocs > ix->block_doc[ix->nblocks]) {
    if (ix->nblocks + 2 > cap) ix->block_doc = xrealloc(ix->block_doc, (cap *= 2) * sizeof *ix->block_doc);
    ix->block_doc[++ix->nblocks] = ndocs;
    if (rows > ix->max_block_rows) ix->max_block_rows = rows;
    if (bdocs > ix->max_block_docs) ix->max_block_docs = bdocs;
  }
  return ix;
}

void rank_index_free(rank_index *ix) {
  if (!ix) return;
  bm25_index_free(ix->bm25);
  softbm25_index_free(ix->soft);
  free(ix->skip[DOC]);
  free(ix->skip[QUERY]);
  free(ix->order);
  free(ix->rows);
  free(ix->block_doc);
  free(ix);
}

size_t rank_index_empty(const rank_index *ix) { return ix->nempty; }

/* A bounded min-heap of the K largest values (for CSLS's r_q and r_d). */
static void topval_push(double *h, uint32_t *n, uint32_t cap, double x) {
  uint32_t i;
  if (*n < cap) {
    i = (*n)++;
    while (i > 0) {
      uint32_t p = (i - 1) / 2;
      if (h[p] <= x) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = x;
    return;
  }
  if (!(x > h[0])) return;
  i = 0;
  for (;;) {
    uint32_t l = 2 * i + 1, c;
    if (l >= *n) break;
    c = l;
    if (l + 1 < *n && h[l + 1] < h[l]) c = l + 1;
    if (x <= h[c]) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

static int cmp_double_desc(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

/* Mean of the `take` largest of v[0..n): sorted first, so the sum is the same
 * whatever order the values were collected in. */
static double mean_top(double *v, size_t n, size_t take) {
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_double_desc);
  if (take > n) take = n;
  double s = 0;
  for (size_t i = 0; i < take; i++) s += v[i];
  return s / (double)take;
}

/* ---- the search ---- */

enum { PASS_STATS, PASS_RANK };

typedef struct {
  float *D, *C, *colmax;
  double *acc, *tmp;
  size_t *doff;              /* row offset of each document of the block */
  rank_hit *hits;            /* batch x cap */
  size_t *nhits;
  double *rqv;               /* batch x K values (pass STATS) */
  uint32_t *rqn;
  size_t zero_doc;           /* the first document with a zero vector seen (SIZE_MAX: none) */
  long zero_where;
} thread_state;

typedef struct {
  rank_index *ix;
  const rank_opts *o;
  int pass;
  size_t q0, nqb;            /* this batch: queries [q0, q0 + nqb) */
  const rank_item *queries;
  float *Q;                  /* batch rows x d */
  size_t *qoff;              /* nqb + 1 row offsets */
  size_t nchunks, *chunk;    /* chunk c = batch queries [chunk[c], chunk[c+1]) */
  size_t max_chunk_rows;
  size_t csls_k;
  size_t csls_kq, csls_kd;   /* values kept per query / per document: K, or fewer if fewer exist */
  double *rq;                /* per query of the call */
  double *rd_vals;           /* ndocs x csls_kd */
  uint32_t *rd_n;
  double *rd;
  size_t cap;                /* hits kept per query (k > 0) */
  double *all;               /* k = 0: nqb x ndocs */
  thread_state *ts;
  int nthreads;
} search_ctx;

static void consume(search_ctx *cx, thread_state *t, size_t qb, size_t doc, double s) {
  if (cx->pass == PASS_STATS) {
    size_t Kq = cx->csls_kq, Kd = cx->csls_kd;
    topval_push(t->rqv + qb * Kq, &t->rqn[qb], (uint32_t)Kq, s);
    topval_push(cx->rd_vals + doc * Kd, &cx->rd_n[doc], (uint32_t)Kd, s);
    return;
  }
  if (cx->csls_k) s = 2 * s - cx->rq[cx->q0 + qb] - cx->rd[doc];
  if (cx->all) {
    cx->all[qb * cx->ix->ndocs + doc] = s;
    return;
  }
  rank_hit h = {(uint32_t)doc, s};
  rank_heap_push(t->hits + qb * cx->cap, &t->nhits[qb], cx->cap, h, cx->ix->order);
}

/* The max of p[0..n), n >= 1, and cm[x] = max(cm[x], row[x]): exact, so
 * every CPU variant of kernels/vec.h gives the same value. */
static inline float span_max(const float *restrict p, size_t n) { return kern_max(p, n); }
static inline void max_into(float *restrict cm, const float *restrict row, size_t n) { kern_max_into(cm, row, n); }

/* Scores independent of which documents share a product. OpenBLAS computes
 * an entry of C the same way wherever it sits in a matrix product, except in
 * its small-matrix kernels (taken when M N K <= 100^3), whose rounding
 * differs: so a document's score would depend on the size of its block, and
 * a sharded search would not reproduce the unsplit one bit for bit. Products
 * are kept out of that range by widening the call to more document rows
 * (rows after the block's: zeros or an earlier block's, ignored). Returns
 * the columns to compute for an mr x nb product at depth d. */
#define SMALL_GEMM_MNK 1000000.0
static size_t pad_cols(size_t mr, size_t nb, size_t d) {
  if ((double)mr * (double)nb * (double)d > SMALL_GEMM_MNK) return nb;
  size_t need = (size_t)(SMALL_GEMM_MNK / ((double)mr * (double)d)) + 1;
  return need > nb ? need : nb;
}

/* Rows of D (and columns of C) a padded product can need: pad_cols(1, ., d). */
static size_t pad_rows(size_t d) { return (size_t)(SMALL_GEMM_MNK / (double)d) + 1; }

static void run_block(search_ctx *cx, thread_state *t, size_t b) {
  rank_index *ix = cx->ix;
  size_t d = ix->d, first = ix->block_doc[b], last = ix->block_doc[b + 1];
  size_t nb = 0;
  for (size_t j = first; j < last; j++) {
    t->doff[j - first] = nb;
    if (ix->rows[j]) {
      long z = item_write_rows(ix, DOC, &ix->docs[j], t->D + nb * d, t->tmp);
      if (z != ROWS_OK && j < t->zero_doc) t->zero_doc = j, t->zero_where = z;
    }
    nb += ix->rows[j];
  }
  t->doff[last - first] = nb;
  if (!nb || t->zero_doc != SIZE_MAX) return;
  bool dense = ix->mode == RANK_DENSE, sym = ix->mode == RANK_MAXSIM_SYM;
  for (size_t c = 0; c < cx->nchunks; c++) {
    size_t qa = cx->chunk[c], qz = cx->chunk[c + 1];
    size_t r0 = cx->qoff[qa], mr = cx->qoff[qz] - r0;
    if (!mr) continue;
    /* A small product is padded with the (ignored) rows after the block's,
     * so that every score comes out of the same sgemm code (see pad_cols). */
    size_t nb_call = pad_cols(mr, nb, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mr, (int)nb_call, (int)d, 1.0f,
                cx->Q + r0 * d, (int)d, t->D, (int)d, 0.0f, t->C, (int)nb_call);
    const size_t ldc = nb_call;
    for (size_t q = qa; q < qz; q++) {
      size_t qr0 = cx->qoff[q] - r0, qn = cx->qoff[q + 1] - cx->qoff[q];
      if (!qn) continue;
      if (dense) {
        const float *row = t->C + qr0 * ldc;
        /* Most documents lose against a full heap's worst: test that inline. */
        bool plain = cx->pass == PASS_RANK && !cx->csls_k && !cx->all;
        const rank_hit *h = plain ? t->hits + q * cx->cap : NULL;
        for (size_t j = first; j < last; j++) {
          if (!ix->rows[j]) continue;
          float s = row[t->doff[j - first]];
          if (plain && t->nhits[q] == cx->cap && s < h[0].score) continue;
          consume(cx, t, q, j, s);
        }
        continue;
      }
      /* query -> document: best document token per query token, summed */
      for (size_t j = first; j < last; j++) t->acc[j - first] = 0;
      for (size_t i = 0; i < qn; i++) {
        const float *row = t->C + (qr0 + i) * ldc;
        for (size_t j = first; j < last; j++) {
          size_t a = t->doff[j - first], z = t->doff[j - first + 1];
          if (a == z) continue;
          t->acc[j - first] += span_max(row + a, z - a);
        }
      }
      if (sym) {
        /* document -> query: best query token per document token */
        memcpy(t->colmax, t->C + qr0 * ldc, nb * sizeof *t->colmax);
        for (size_t i = 1; i < qn; i++) max_into(t->colmax, t->C + (qr0 + i) * ldc, nb);
      }
      for (size_t j = first; j < last; j++) {
        size_t a = t->doff[j - first], z = t->doff[j - first + 1];
        if (a == z) continue;
        double s = t->acc[j - first];
        if (sym) {
          double back = 0;
          for (size_t x = a; x < z; x++) back += t->colmax[x];
          s = 0.5 * (s / (double)qn + back / (double)(z - a));
        } else if (cx->o->maxsim_mean) {
          s /= (double)qn;
        }
        consume(cx, t, q, j, s);
      }
    }
  }
}

/* Every block of the batch, on the pool (base/pool.h): blocks are claimed
 * one at a time, each worker writes its own thread_state; the results are
 * merged under the total order afterwards, so the output does not depend on
 * which worker ran which block. */
static void block_item(void *ctx, size_t b, int worker) {
  search_ctx *cx = ctx;
  run_block(cx, &cx->ts[worker], b);
}

static void run_parallel(search_ctx *cx) { pool_each(cx->ix->nblocks, cx->nthreads, block_item, cx); }

/* Split queries [q0, q0 + max) into the next batch: at most `batch` queries
 * and about BATCH_ROWS rows. Returns the batch size (>= 1). */
static size_t next_batch(const rank_index *ix, const rank_item *queries, size_t q0, size_t nq, size_t batch) {
  size_t rows = 0, i = q0;
  while (i < nq && i - q0 < batch) {
    size_t r = item_rows(ix, QUERY, &queries[i]);
    if (i > q0 && rows + r > BATCH_ROWS) break;
    rows += r;
    i++;
  }
  return i - q0;
}

/* The batch's query rows and tiles; -1 + message on a zero vector. */
static int prepare_batch(search_ctx *cx, size_t q0, size_t nqb, char *err, size_t errlen) {
  rank_index *ix = cx->ix;
  size_t d = ix->d;
  cx->q0 = q0;
  cx->nqb = nqb;
  cx->qoff = xrealloc(cx->qoff, (nqb + 1) * sizeof *cx->qoff);
  cx->qoff[0] = 0;
  for (size_t q = 0; q < nqb; q++) cx->qoff[q + 1] = cx->qoff[q] + item_rows(ix, QUERY, &cx->queries[q0 + q]);
  size_t total = cx->qoff[nqb];
  cx->Q = xrealloc(cx->Q, xmul(total ? total : 1, d * sizeof *cx->Q));
  double *tmp = xmalloc(d * sizeof *tmp);
  for (size_t q = 0; q < nqb; q++) {
    if (cx->qoff[q + 1] == cx->qoff[q]) continue;
    const rank_item *it = &cx->queries[q0 + q];
    long z = item_write_rows(ix, QUERY, it, cx->Q + cx->qoff[q] * d, tmp);
    if (z != ROWS_OK) {
      zero_msg(err, errlen, cx->o, QUERY, cx->o->query_base + q0 + q, it, z);
      free(tmp);
      return -1;
    }
  }
  free(tmp);
  /* Tiles of whole queries, up to TILE_ROWS rows (a longer query alone). */
  cx->chunk = xrealloc(cx->chunk, (nqb + 1) * sizeof *cx->chunk);
  cx->nchunks = 0;
  cx->chunk[0] = 0;
  cx->max_chunk_rows = 0;
  size_t start = 0;
  for (size_t q = 0; q <= nqb; q++) {
    size_t rows = cx->qoff[q] - cx->qoff[start];
    if (q == nqb || (rows > 0 && rows + (cx->qoff[q + 1] - cx->qoff[q]) > ix->tile_rows)) {
      if (q > start) {
        cx->chunk[++cx->nchunks] = q;
        if (rows > cx->max_chunk_rows) cx->max_chunk_rows = rows;
        start = q;
      }
    }
  }
  return 0;
}

/* Run every block of the batch; -1 + message if a document had a zero
 * vector (the first in document order, whatever the thread count). */
static int run_blocks(search_ctx *cx, char *err, size_t errlen) {
  for (int i = 0; i < cx->nthreads; i++) cx->ts[i].zero_doc = SIZE_MAX;
  run_parallel(cx);
  thread_state *z = NULL;
  for (int i = 0; i < cx->nthreads; i++)
    if (cx->ts[i].zero_doc != SIZE_MAX && (!z || cx->ts[i].zero_doc < z->zero_doc)) z = &cx->ts[i];
  if (!z) return 0;
  zero_msg(err, errlen, cx->o, DOC, z->zero_doc, &cx->ix->docs[z->zero_doc], z->zero_where);
  return -1;
}

static void thread_alloc(search_ctx *cx, size_t max_batch) {
  rank_index *ix = cx->ix;
  size_t d = ix->d;
  for (int i = 0; i < cx->nthreads; i++) {
    thread_state *t = &cx->ts[i];
    size_t drows = ix->max_block_rows > pad_rows(d) ? ix->max_block_rows : pad_rows(d);
    t->D = xcalloc(drows + 1, d * sizeof(float));
    t->colmax = xmalloc((ix->max_block_rows + 1) * sizeof(float));
    t->acc = xmalloc((ix->max_block_docs + 1) * sizeof(double));
    t->doff = xmalloc((ix->max_block_docs + 2) * sizeof(size_t));
    t->tmp = xmalloc(d * sizeof(double));
    t->nhits = xcalloc(max_batch + 1, sizeof(size_t));
    if (cx->cap) t->hits = xmalloc(xmul(xmul(max_batch, cx->cap), sizeof(rank_hit)));
    if (cx->csls_k) {
      t->rqv = xmalloc(xmul(xmul(max_batch, cx->csls_kq), sizeof(double)));
      t->rqn = xcalloc(max_batch + 1, sizeof(uint32_t));
    }
  }
}

static void thread_tiles(search_ctx *cx) {
  size_t need = xmul(cx->max_chunk_rows ? cx->max_chunk_rows : 1, (cx->ix->max_block_rows + 1) * sizeof(float));
  size_t padded = (pad_rows(cx->ix->d) + cx->max_chunk_rows + 1) * sizeof(float); /* mr x pad_cols(mr, .) */
  if (need < padded) need = padded;
  for (int i = 0; i < cx->nthreads; i++) cx->ts[i].C = xrealloc(cx->ts[i].C, need);
}

static void thread_free(search_ctx *cx) {
  for (int i = 0; i < cx->nthreads; i++) {
    thread_state *t = &cx->ts[i];
    free(t->D), free(t->C), free(t->colmax), free(t->acc), free(t->doff), free(t->tmp);
    free(t->nhits), free(t->hits), free(t->rqv), free(t->rqn);
  }
}

static int ot_rerank(rank_index *ix, const rank_item *queries, size_t q0, size_t nqb, rank_hit *hits,
                     size_t *nhits, size_t stride, const rank_opts *o, char *err, size_t errlen);

/* CSLS on the OT scores, where they exist: r_q = mean of q's K best over its
 * candidates, r_d = mean of d's K best over the queries that have d as a
 * candidate; then every list is re-sorted and emitted. */
static void ot_csls_emit(const rank_index *ix, size_t K, rank_hit *hits, size_t *n, size_t nq, size_t stride,
                         size_t k, rank_emit_fn emit, void *ctx) {
  size_t Kd = K < nq ? K : nq; /* a document has at most nq values */
  double *rd_vals = xmalloc(xmul(xmul(ix->ndocs + 1, Kd), sizeof *rd_vals));
  uint32_t *rd_n = xcalloc(ix->ndocs + 1, sizeof *rd_n);
  double *rq = xmalloc((nq + 1) * sizeof *rq), *rd = xcalloc(ix->ndocs + 1, sizeof *rd);
  double *v = xmalloc((stride + 1) * sizeof *v);
  for (size_t q = 0; q < nq; q++) {
    rank_hit *h = hits + q * stride;
    for (size_t i = 0; i < n[q]; i++) {
      v[i] = h[i].score;
      topval_push(rd_vals + (size_t)h[i].doc * Kd, &rd_n[h[i].doc], (uint32_t)Kd, h[i].score);
    }
    rq[q] = mean_top(v, n[q], K);
  }
  for (size_t j = 0; j < ix->ndocs; j++) rd[j] = mean_top(rd_vals + j * Kd, rd_n[j], K);
  for (size_t q = 0; q < nq; q++) {
    rank_hit *h = hits + q * stride;
    for (size_t i = 0; i < n[q]; i++) h[i].score = 2 * h[i].score - rq[q] - rd[h[i].doc];
    rank_sort_hits(h, n[q], ix->order);
    emit(ctx, q, h, k && n[q] > k ? k : n[q]);
  }
  free(rd_vals), free(rd_n), free(rq), free(rd), free(v);
}

int rank_search(rank_index *ix, const rank_item *queries, size_t nq, const rank_opts *o,
                rank_emit_fn emit, void *ctx, char *err, size_t errlen) {
  if ((o->mode == RANK_OT ? o->ot_base : o->mode) != ix->mode || o->sim != ix->sim) {
    set_err(err, errlen, "rank_search: options differ from the index's");
    return -1;
  }
  if (ix->bm25) {
    if (o->csls_k > 0) {
      set_err(err, errlen, "%s", rank_bm25_csls_reason);
      return -1;
    }
    const uint32_t *qskip = o->q_skip_ids ? o->q_skip_ids : o->skip_ids;
    size_t nqskip = o->q_skip_ids ? o->nq_skip : o->nskip;
    return bm25_search(ix->bm25, queries, nq, qskip, nqskip, o->k, o->threads, emit, ctx);
  }
  if (ix->soft) {
    if (o->csls_k > 0) {
      set_err(err, errlen, "%s", rank_bm25_csls_reason);
      return -1;
    }
    const uint32_t *qskip = o->q_skip_ids ? o->q_skip_ids : o->skip_ids;
    size_t nqskip = o->q_skip_ids ? o->nq_skip : o->nskip;
    return softbm25_search(ix->soft, queries, nq, qskip, nqskip, o->k, o->tie_desc, o->threads, o->query_base, emit,
                           ctx, err, errlen);
  }
  search_ctx cx;
  memset(&cx, 0, sizeof cx);
  cx.ix = ix;
  cx.o = o;
  cx.queries = queries;
  cx.nthreads = pool_workers(o->threads > 0 ? o->threads : otc_threads());
  cx.ts = xcalloc((size_t)cx.nthreads, sizeof *cx.ts);
  size_t batch = o->batch ? o->batch : DEFAULT_BATCH;
  size_t want = o->k;
  if (o->mode == RANK_OT) want = o->ot_candidates ? o->ot_candidates : 100;
  if (want == 0 || want >= ix->nonempty) {
    /* Everything is returned: a dense score array beats heaps of that size. */
    want = 0;
    size_t per = (ix->ndocs ? ix->ndocs : 1) * sizeof(double);
    size_t maxb = ALL_SCORES_BYTES / per;
    if (maxb < 1) maxb = 1;
    if (batch > maxb) batch = maxb;
  }
  cx.cap = want;
  cx.csls_k = o->csls_k > 0 ? (size_t)o->csls_k : 0;
  if (ix->nonempty == 0) cx.csls_k = 0;
  /* K beyond the values that exist changes nothing but memory (a huge K must
   * not allocate K doubles per document): keep what can exist. */
  cx.csls_kq = cx.csls_k < ix->nonempty ? cx.csls_k : ix->nonempty;
  cx.csls_kd = cx.csls_k < nq ? cx.csls_k : nq;
  /* A large k (or K) means large per-query heaps in every thread, plus the
   * merged output: bound them like the dense array. */
  size_t per_query = ((size_t)cx.nthreads + 1) * (want * sizeof(rank_hit) + cx.csls_kq * sizeof(double));
  if (per_query && batch > ALL_SCORES_BYTES / per_query) batch = ALL_SCORES_BYTES / per_query ? ALL_SCORES_BYTES / per_query : 1;
  thread_alloc(&cx, batch);
  /* OpenBLAS runs single-threaded inside our threads (see rank.h). */
  int blas_threads = kern_blas_serial_begin();

  size_t out_cap = want ? want : ix->nonempty;
  rank_hit *out = xmalloc(xmul(xmul(batch, out_cap ? out_cap : 1), sizeof *out));
  size_t *nout = xcalloc(batch + 1, sizeof *nout);
  rank_hit *gather = xmalloc(xmul(xmul((size_t)cx.nthreads, want ? want : 1), sizeof *gather));
  int rc = 0;

  if (cx.csls_k) {
    size_t K = cx.csls_k, Kq = cx.csls_kq;
    cx.rq = xcalloc(nq + 1, sizeof *cx.rq);
    cx.rd_vals = xmalloc(xmul(xmul(ix->ndocs + 1, cx.csls_kd), sizeof(double)));
    cx.rd_n = xcalloc(ix->ndocs + 1, sizeof *cx.rd_n);
    cx.rd = xcalloc(ix->ndocs + 1, sizeof *cx.rd);
    double *vals = xmalloc(xmul(xmul((size_t)cx.nthreads, Kq), sizeof *vals));
    cx.pass = PASS_STATS;
    for (size_t q0 = 0; q0 < nq;) {
      size_t nqb = next_batch(ix, queries, q0, nq, batch);
      if (prepare_batch(&cx, q0, nqb, err, errlen) != 0) {
        rc = -1;
        break;
      }
      thread_tiles(&cx);
      for (int i = 0; i < cx.nthreads; i++) memset(cx.ts[i].rqn, 0, nqb * sizeof(uint32_t));
      if (run_blocks(&cx, err, errlen) != 0) {
        rc = -1;
        break;
      }
      for (size_t q = 0; q < nqb; q++) {
        size_t n = 0;
        for (int i = 0; i < cx.nthreads; i++) {
          memcpy(vals + n, cx.ts[i].rqv + q * Kq, cx.ts[i].rqn[q] * sizeof *vals);
          n += cx.ts[i].rqn[q];
        }
        cx.rq[q0 + q] = mean_top(vals, n, K);
      }
      q0 += nqb;
    }
    for (size_t j = 0; j < ix->ndocs; j++) cx.rd[j] = mean_top(cx.rd_vals + j * cx.csls_kd, cx.rd_n[j], K);
    free(vals);
  }

  /* ot with CSLS: the OT scores get their own correction, over the
   * candidate pairs of all queries, so every candidate list is kept. */
  bool ot_csls = o->mode == RANK_OT && cx.csls_k && rc == 0;
  rank_hit *ot_hits = ot_csls ? xmalloc(xmul(xmul(nq + 1, out_cap ? out_cap : 1), sizeof *ot_hits)) : NULL;
  size_t *ot_n = ot_csls ? xcalloc(nq + 1, sizeof *ot_n) : NULL;

  cx.pass = PASS_RANK;
  for (size_t q0 = 0; q0 < nq && rc == 0;) {
    size_t nqb = next_batch(ix, queries, q0, nq, batch);
    if (prepare_batch(&cx, q0, nqb, err, errlen) != 0) {
      rc = -1;
      break;
    }
    thread_tiles(&cx);
    if (!want) {
      cx.all = xrealloc(cx.all, xmul(xmul(nqb, ix->ndocs ? ix->ndocs : 1), sizeof *cx.all));
    } else {
      for (int i = 0; i < cx.nthreads; i++) memset(cx.ts[i].nhits, 0, nqb * sizeof(size_t));
    }
    if (run_blocks(&cx, err, errlen) != 0) {
      rc = -1;
      break;
    }
    for (size_t q = 0; q < nqb; q++) {
      rank_hit *dst = out + q * out_cap;
      nout[q] = 0;
      if (cx.qoff[q + 1] == cx.qoff[q]) continue; /* no tokens: no hits */
      size_t n = 0;
      if (!want) {
        for (size_t j = 0; j < ix->ndocs; j++)
          if (ix->rows[j]) dst[n++] = (rank_hit){(uint32_t)j, cx.all[q * ix->ndocs + j]};
        rank_sort_hits(dst, n, ix->order);
      } else {
        for (int i = 0; i < cx.nthreads; i++) {
          memcpy(gather + n, cx.ts[i].hits + q * want, cx.ts[i].nhits[q] * sizeof *gather);
          n += cx.ts[i].nhits[q];
        }
        rank_sort_hits(gather, n, ix->order);
        if (n > want) n = want;
        memcpy(dst, gather, n * sizeof *dst);
      }
      nout[q] = n;
    }
    if (o->mode == RANK_OT) {
      if (ot_rerank(ix, queries, q0, nqb, out, nout, out_cap, o, err, errlen) != 0) {
        rc = -1;
        break;
      }
    }
    if (ot_csls) {
      /* Keep every query's scored candidates for the second correction. */
      for (size_t q = 0; q < nqb; q++) {
        memcpy(ot_hits + (q0 + q) * out_cap, out + q * out_cap, nout[q] * sizeof *ot_hits);
        ot_n[q0 + q] = nout[q];
      }
    } else {
      for (size_t q = 0; q < nqb; q++) {
        size_t n = nout[q];
        if (o->k && n > o->k) n = o->k;
        emit(ctx, q0 + q, out + q * out_cap, n);
      }
    }
    q0 += nqb;
  }
  if (ot_csls && rc == 0) ot_csls_emit(ix, cx.csls_k, ot_hits, ot_n, nq, out_cap, o->k, emit, ctx);
  free(ot_hits), free(ot_n);

  kern_blas_serial_end(blas_threads);
  thread_free(&cx);
  free(cx.ts), free(cx.Q), free(cx.qoff), free(cx.chunk), free(cx.all);
  free(cx.rq), free(cx.rd_vals), free(cx.rd_n), free(cx.rd);
  free(out), free(nout), free(gather);
  return rc;
}

/* ---- ot: rerank candidates by the entropic transport cost ---- */

static unsigned char *token_mask(const rank_index *ix, int side, const rank_item *it) {
  if (!ix->nskip[side] || !it->ids) return NULL;
  unsigned char *m = xmalloc(it->n + 1);
  for (uint32_t t = 0; t < it->n; t++) m[t] = !is_skipped(ix, side, it->ids[t]);
  return m;
}

/* Replace each candidate's first-stage score by -<P, C>, P the entropic plan
 * between the two token sets (skipped tokens masked out, uniform weights),
 * and re-sort. Each problem is solved by one thread: deterministic. */
static int ot_rerank(rank_index *ix, const rank_item *queries, size_t q0, size_t nqb, rank_hit *hits,
                     size_t *nhits, size_t stride, const rank_opts *o, char *err, size_t errlen) {
  size_t total = 0;
  for (size_t q = 0; q < nqb; q++) total += nhits[q];
  if (!total) return 0;
  ot_options oo;
  ot_options_default(&oo);
  if (o->ot_eps > 0) oo.eps = o->ot_eps;
  if (o->ot_max_iter > 0) oo.max_iter = o->ot_max_iter;
  if (o->ot_tol > 0) oo.tol = o->ot_tol;
  oo.threads = o->threads > 0 ? o->threads : otc_threads();
  ot_problem *p = xcalloc(total, sizeof *p);
  ot_result *r = xcalloc(total, sizeof *r);
  unsigned char **qmask = xcalloc(nqb, sizeof *qmask), **dmask = xcalloc(total, sizeof *dmask);
  size_t x = 0;
  for (size_t q = 0; q < nqb; q++) {
    const rank_item *qi = &queries[q0 + q];
    qmask[q] = token_mask(ix, QUERY, qi);
    for (size_t h = 0; h < nhits[q]; h++, x++) {
      const rank_item *di = &ix->docs[hits[q * stride + h].doc];
      dmask[x] = token_mask(ix, DOC, di);
      p[x] = (ot_problem){qi->vecs, di->vecs, (int)qi->n, (int)di->n, (int)ix->d, (int)ix->d, NULL, NULL, qmask[q], dmask[x]};
    }
  }
  size_t bad = ot_solve_batch(p, r, total, &oo, NULL, 0);
  int rc = 0;
  x = 0;
  for (size_t q = 0; q < nqb && rc == 0; q++) {
    for (size_t h = 0; h < nhits[q]; h++, x++) {
      if (bad && r[x].status != OT_OK) {
        const rank_item *di = &ix->docs[hits[q * stride + h].doc];
        const rank_item *qi = &queries[q0 + q];
        set_err(err, errlen, "ot between query '%.*s' and document '%.*s': %s%s", (int)(qi->idlen > 200 ? 200 : qi->idlen),
                qi->id, (int)(di->idlen > 200 ? 200 : di->idlen), di->id, ot_strerror(r[x].status),
                r[x].status == OT_ERR_ZERO_NORM ? (r[x].bad_side ? " (a document token)" : " (a query token)") : "");
        rc = -1;
        break;
      }
      hits[q * stride + h].score = 0.0 - r[x].cost; /* never -0 */
    }
    if (rc == 0) rank_sort_hits(hits + q * stride, nhits[q], ix->order);
  }
  for (size_t q = 0; q < nqb; q++) free(qmask[q]);
  for (size_t i = 0; i < total; i++) free(dmask[i]);
  free(qmask), free(dmask), free(p), free(r);
  return rc;
}
