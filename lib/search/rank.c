/* rank.c: exact dense / late-interaction search with CSLS; see rank.h. */
#include "search/rank.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ot/ot.h"
#include "base/util.h"

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
};

void rank_opts_default(rank_opts *o) {
  memset(o, 0, sizeof *o);
  o->mode = RANK_DENSE;
  o->sim = RANK_COS;
  o->k = 100;
  o->ot_base = RANK_MAXSIM_SYM;
}

static const char *const mode_names[] = {"dense", "maxsim", "maxsim-sym", "ot", "soft-bm25"};
#define NMODES (int)(sizeof mode_names / sizeof *mode_names)

const char *rank_mode_name(rank_mode m) {
  return (int)m >= 0 && (int)m < NMODES ? mode_names[m] : "?";
}

int rank_mode_parse(const char *s, rank_mode *out) {
  for (int i = 0; i < NMODES; i++)
    if (!strcmp(s, mode_names[i])) {
      *out = (rank_mode)i;
      return 0;
    }
  return -1;
}

int rank_idcmp(const char *a, size_t alen, const char *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = memcmp(a, b, n);
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

enum { DOC = 0, QUERY = 1 };

static bool is_skipped(const rank_index *ix, int side, uint32_t id) {
  const uint32_t *skip = ix->skip[side];
  size_t lo = 0, hi = ix->nskip[side];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (skip[mid] == id) return true;
    if (skip[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return false;
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

static void normalize_row(float *x, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; i++) s += (double)x[i] * x[i];
  if (s <= 0) return; /* a zero vector stays zero: similarity 0 with anything */
  double inv = 1.0 / sqrt(s);
  for (size_t i = 0; i < d; i++) x[i] = (float)(x[i] * inv);
}

/* Write the item's rows (item_rows() of them) at out, as they enter the products. */
static void item_write_rows(const rank_index *ix, int side, const rank_item *it, float *out, double *tmp) {
  size_t d = ix->d;
  if (ix->mode == RANK_DENSE) {
    if (it->vec && !ix->pool_mean) {
      memcpy(out, it->vec, d * sizeof *out);
    } else if (it->n == 1 && usable_tokens(ix, side, it) == 1) {
      memcpy(out, it->vecs, d * sizeof *out); /* the mean of one vector, exactly */
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
    if (ix->sim == RANK_COS) normalize_row(out, d);
    return;
  }
  size_t r = 0;
  for (uint32_t t = 0; t < it->n; t++) {
    if (ix->nskip[side] && it->ids && is_skipped(ix, side, it->ids[t])) continue;
    float *o = out + r * d;
    memcpy(o, it->vecs + (size_t)t * d, d * sizeof *o);
    if (ix->sim == RANK_COS) normalize_row(o, d);
    r++;
  }
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static int cmp_docid(const void *a, const void *b, void *ctx) {
  const rank_item *docs = ctx;
  const rank_item *x = &docs[*(const uint32_t *)a], *y = &docs[*(const uint32_t *)b];
  return rank_idcmp(x->id, x->idlen, y->id, y->idlen);
}

rank_index *rank_index_new(const rank_item *docs, size_t ndocs, size_t d, const rank_opts *o,
                           char *err, size_t errlen) {
  if (ndocs > UINT32_MAX - 1) {
    set_err(err, errlen, "too many documents (%zu; at most %u)", ndocs, UINT32_MAX - 1);
    return NULL;
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
  size_t block_rows = o->block_rows ? o->block_rows : BLOCK_ROWS;
  ix->tile_rows = o->tile_rows ? o->tile_rows : TILE_ROWS;
  if (ix->mode == RANK_OT) {
    set_err(err, errlen, "the first stage of 'ot' cannot be 'ot'");
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

  /* Tie-break order by id; adjacent equal ids are duplicates, which would
   * make a run list one document twice. */
  uint32_t *perm = xmalloc((ndocs + 1) * sizeof *perm);
  for (size_t i = 0; i < ndocs; i++) perm[i] = (uint32_t)i;
  qsort_r(perm, ndocs, sizeof *perm, cmp_docid, (void *)docs);
  ix->order = xmalloc((ndocs + 1) * sizeof *ix->order);
  for (size_t i = 0; i < ndocs; i++) {
    if (i > 0 && !cmp_docid(&perm[i - 1], &perm[i], (void *)docs)) {
      const rank_item *a = &docs[perm[i - 1]];
      uint32_t lo = perm[i - 1] < perm[i] ? perm[i - 1] : perm[i], hi = perm[i - 1] ^ perm[i] ^ lo;
      set_err(err, errlen, "duplicate document id '%.*s' (documents %u and %u, counting from 0)",
              (int)(a->idlen > 200 ? 200 : a->idlen), a->id, lo, hi);
      free(perm);
      rank_index_free(ix);
      return NULL;
    }
    ix->order[perm[i]] = (uint32_t)(o->tie_desc ? ndocs - 1 - i : i);
  }
  free(perm);

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
  free(ix->skip[DOC]);
  free(ix->skip[QUERY]);
  free(ix->order);
  free(ix->rows);
  free(ix->block_doc);
  free(ix);
}

size_t rank_index_empty(const rank_index *ix) { return ix->nempty; }

/* ---- hits under the total order (score desc, then tie rank asc) ---- */

static inline bool hit_better(const uint32_t *order, rank_hit a, rank_hit b) {
  return a.score > b.score || (a.score == b.score && order[a.doc] < order[b.doc]);
}

/* A bounded heap of the best `cap` hits; h[0] is the worst kept. */
static void heap_push(rank_hit *h, size_t *n, size_t cap, rank_hit x, const uint32_t *order) {
  size_t i;
  if (*n < cap) {
    i = (*n)++;
    while (i > 0) {
      size_t p = (i - 1) / 2;
      if (!hit_better(order, h[p], x)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = x;
    return;
  }
  if (cap == 0 || !hit_better(order, x, h[0])) return;
  i = 0;
  for (;;) {
    size_t l = 2 * i + 1, c;
    if (l >= *n) break;
    c = l;
    if (l + 1 < *n && hit_better(order, h[l], h[l + 1])) c = l + 1;
    if (!hit_better(order, x, h[c])) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

static int cmp_hit(const void *a, const void *b, void *order) {
  rank_hit x = *(const rank_hit *)a, y = *(const rank_hit *)b;
  if (hit_better(order, x, y)) return -1;
  if (hit_better(order, y, x)) return 1;
  return 0;
}

static void sort_hits(rank_hit *h, size_t n, const uint32_t *order) {
  qsort_r(h, n, sizeof *h, cmp_hit, (void *)order);
}

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
  double *rq;                /* per query of the call */
  double *rd_vals;           /* ndocs x K */
  uint32_t *rd_n;
  double *rd;
  size_t cap;                /* hits kept per query (k > 0) */
  double *all;               /* k = 0: nqb x ndocs */
  _Atomic size_t next_block;
  thread_state *ts;
  int nthreads;
} search_ctx;

static void consume(search_ctx *cx, thread_state *t, size_t qb, size_t doc, double s) {
  if (cx->pass == PASS_STATS) {
    size_t K = cx->csls_k;
    topval_push(t->rqv + qb * K, &t->rqn[qb], (uint32_t)K, s);
    topval_push(cx->rd_vals + doc * K, &cx->rd_n[doc], (uint32_t)K, s);
    return;
  }
  if (cx->csls_k) s = 2 * s - cx->rq[cx->q0 + qb] - cx->rd[doc];
  if (cx->all) {
    cx->all[qb * cx->ix->ndocs + doc] = s;
    return;
  }
  rank_hit h = {(uint32_t)doc, s};
  heap_push(t->hits + qb * cx->cap, &t->nhits[qb], cx->cap, h, cx->ix->order);
}

/* The max of p[0..n), n >= 1. Max is exact, so any order gives the same
 * value; eight independent lanes let the compiler use packed max
 * instructions and break the dependency chain of a scalar loop. */
static inline float span_max(const float *restrict p, size_t n) {
  size_t x = 1;
  float r = p[0];
  if (n >= 16) {
    float m[8];
    for (int u = 0; u < 8; u++) m[u] = p[u];
    for (x = 8; x + 8 <= n; x += 8)
      for (int u = 0; u < 8; u++) m[u] = p[x + u] > m[u] ? p[x + u] : m[u];
    r = m[0];
    for (int u = 1; u < 8; u++) r = m[u] > r ? m[u] : r;
  }
  for (; x < n; x++) r = p[x] > r ? p[x] : r;
  return r;
}

/* cm[x] = max(cm[x], row[x]) for x < n. */
static inline void max_into(float *restrict cm, const float *restrict row, size_t n) {
  size_t x = 0;
  for (; x + 8 <= n; x += 8)
    for (int u = 0; u < 8; u++) cm[x + u] = row[x + u] > cm[x + u] ? row[x + u] : cm[x + u];
  for (; x < n; x++) cm[x] = row[x] > cm[x] ? row[x] : cm[x];
}

static void run_block(search_ctx *cx, thread_state *t, size_t b) {
  rank_index *ix = cx->ix;
  size_t d = ix->d, first = ix->block_doc[b], last = ix->block_doc[b + 1];
  size_t nb = 0;
  for (size_t j = first; j < last; j++) {
    t->doff[j - first] = nb;
    if (ix->rows[j]) item_write_rows(ix, DOC, &ix->docs[j], t->D + nb * d, t->tmp);
    nb += ix->rows[j];
  }
  t->doff[last - first] = nb;
  if (!nb) return;
  bool dense = ix->mode == RANK_DENSE, sym = ix->mode == RANK_MAXSIM_SYM;
  for (size_t c = 0; c < cx->nchunks; c++) {
    size_t qa = cx->chunk[c], qz = cx->chunk[c + 1];
    size_t r0 = cx->qoff[qa], mr = cx->qoff[qz] - r0;
    if (!mr) continue;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mr, (int)nb, (int)d, 1.0f,
                cx->Q + r0 * d, (int)d, t->D, (int)d, 0.0f, t->C, (int)nb);
    for (size_t q = qa; q < qz; q++) {
      size_t qr0 = cx->qoff[q] - r0, qn = cx->qoff[q + 1] - cx->qoff[q];
      if (!qn) continue;
      if (dense) {
        const float *row = t->C + qr0 * nb;
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
        const float *row = t->C + (qr0 + i) * nb;
        for (size_t j = first; j < last; j++) {
          size_t a = t->doff[j - first], z = t->doff[j - first + 1];
          if (a == z) continue;
          t->acc[j - first] += span_max(row + a, z - a);
        }
      }
      if (sym) {
        /* document -> query: best query token per document token */
        memcpy(t->colmax, t->C + qr0 * nb, nb * sizeof *t->colmax);
        for (size_t i = 1; i < qn; i++) max_into(t->colmax, t->C + (qr0 + i) * nb, nb);
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

typedef struct {
  search_ctx *cx;
  int tid;
} worker_arg;

static void *worker(void *p) {
  worker_arg *w = p;
  search_ctx *cx = w->cx;
  for (;;) {
    size_t b = atomic_fetch_add(&cx->next_block, 1);
    if (b >= cx->ix->nblocks) break;
    run_block(cx, &cx->ts[w->tid], b);
  }
  return NULL;
}

static void run_parallel(search_ctx *cx) {
  int n = cx->nthreads;
  atomic_store(&cx->next_block, 0);
  pthread_t *th = xmalloc(sizeof *th * (size_t)n);
  worker_arg *args = xmalloc(sizeof *args * (size_t)n);
  int started = 0;
  for (int i = 1; i < n; i++) {
    args[i] = (worker_arg){cx, i};
    if (pthread_create(&th[i], NULL, worker, &args[i]) != 0) break;
    started = i;
  }
  args[0] = (worker_arg){cx, 0};
  worker(&args[0]);
  for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
  free(th);
  free(args);
}

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

static void prepare_batch(search_ctx *cx, size_t q0, size_t nqb) {
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
  for (size_t q = 0; q < nqb; q++)
    if (cx->qoff[q + 1] > cx->qoff[q]) item_write_rows(ix, QUERY, &cx->queries[q0 + q], cx->Q + cx->qoff[q] * d, tmp);
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
}

static void thread_alloc(search_ctx *cx, size_t max_batch) {
  rank_index *ix = cx->ix;
  size_t d = ix->d;
  for (int i = 0; i < cx->nthreads; i++) {
    thread_state *t = &cx->ts[i];
    t->D = xmalloc(xmul(ix->max_block_rows + 1, d * sizeof(float)));
    t->colmax = xmalloc((ix->max_block_rows + 1) * sizeof(float));
    t->acc = xmalloc((ix->max_block_docs + 1) * sizeof(double));
    t->doff = xmalloc((ix->max_block_docs + 2) * sizeof(size_t));
    t->tmp = xmalloc(d * sizeof(double));
    t->nhits = xcalloc(max_batch + 1, sizeof(size_t));
    if (cx->cap) t->hits = xmalloc(xmul(xmul(max_batch, cx->cap), sizeof(rank_hit)));
    if (cx->csls_k) {
      t->rqv = xmalloc(xmul(xmul(max_batch, cx->csls_k), sizeof(double)));
      t->rqn = xcalloc(max_batch + 1, sizeof(uint32_t));
    }
  }
}

static void thread_tiles(search_ctx *cx) {
  size_t need = xmul(cx->max_chunk_rows ? cx->max_chunk_rows : 1, (cx->ix->max_block_rows + 1) * sizeof(float));
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
  double *rd_vals = xmalloc(xmul(xmul(ix->ndocs + 1, K), sizeof *rd_vals));
  uint32_t *rd_n = xcalloc(ix->ndocs + 1, sizeof *rd_n);
  double *rq = xmalloc((nq + 1) * sizeof *rq), *rd = xcalloc(ix->ndocs + 1, sizeof *rd);
  double *v = xmalloc((stride + 1) * sizeof *v);
  for (size_t q = 0; q < nq; q++) {
    rank_hit *h = hits + q * stride;
    for (size_t i = 0; i < n[q]; i++) {
      v[i] = h[i].score;
      topval_push(rd_vals + (size_t)h[i].doc * K, &rd_n[h[i].doc], (uint32_t)K, h[i].score);
    }
    rq[q] = mean_top(v, n[q], K);
  }
  for (size_t j = 0; j < ix->ndocs; j++) rd[j] = mean_top(rd_vals + j * K, rd_n[j], K);
  for (size_t q = 0; q < nq; q++) {
    rank_hit *h = hits + q * stride;
    for (size_t i = 0; i < n[q]; i++) h[i].score = 2 * h[i].score - rq[q] - rd[h[i].doc];
    sort_hits(h, n[q], ix->order);
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
  search_ctx cx;
  memset(&cx, 0, sizeof cx);
  cx.ix = ix;
  cx.o = o;
  cx.queries = queries;
  cx.nthreads = o->threads > 0 ? o->threads : otc_threads();
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
  /* A large k (or K) means large per-query heaps in every thread, plus the
   * merged output: bound them like the dense array. */
  size_t per_query = ((size_t)cx.nthreads + 1) * (want * sizeof(rank_hit) + cx.csls_k * sizeof(double));
  if (per_query && batch > ALL_SCORES_BYTES / per_query) batch = ALL_SCORES_BYTES / per_query ? ALL_SCORES_BYTES / per_query : 1;
  thread_alloc(&cx, batch);
  /* OpenBLAS runs single-threaded inside our threads (see rank.h). */
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);

  size_t out_cap = want ? want : ix->nonempty;
  rank_hit *out = xmalloc(xmul(xmul(batch, out_cap ? out_cap : 1), sizeof *out));
  size_t *nout = xcalloc(batch + 1, sizeof *nout);
  rank_hit *gather = xmalloc(xmul(xmul((size_t)cx.nthreads, want ? want : 1), sizeof *gather));
  int rc = 0;

  if (cx.csls_k) {
    size_t K = cx.csls_k;
    cx.rq = xcalloc(nq + 1, sizeof *cx.rq);
    cx.rd_vals = xmalloc(xmul(xmul(ix->ndocs + 1, K), sizeof(double)));
    cx.rd_n = xcalloc(ix->ndocs + 1, sizeof *cx.rd_n);
    cx.rd = xcalloc(ix->ndocs + 1, sizeof *cx.rd);
    double *vals = xmalloc(xmul(xmul((size_t)cx.nthreads, K), sizeof *vals));
    cx.pass = PASS_STATS;
    for (size_t q0 = 0; q0 < nq;) {
      size_t nqb = next_batch(ix, queries, q0, nq, batch);
      prepare_batch(&cx, q0, nqb);
      thread_tiles(&cx);
      for (int i = 0; i < cx.nthreads; i++) memset(cx.ts[i].rqn, 0, nqb * sizeof(uint32_t));
      run_parallel(&cx);
      for (size_t q = 0; q < nqb; q++) {
        size_t n = 0;
        for (int i = 0; i < cx.nthreads; i++) {
          memcpy(vals + n, cx.ts[i].rqv + q * K, cx.ts[i].rqn[q] * sizeof *vals);
          n += cx.ts[i].rqn[q];
        }
        cx.rq[q0 + q] = mean_top(vals, n, K);
      }
      q0 += nqb;
    }
    for (size_t j = 0; j < ix->ndocs; j++) cx.rd[j] = mean_top(cx.rd_vals + j * K, cx.rd_n[j], K);
    free(vals);
  }

  /* ot with CSLS: the OT scores get their own correction, over the
   * candidate pairs of all queries, so every candidate list is kept. */
  bool ot_csls = o->mode == RANK_OT && cx.csls_k;
  rank_hit *ot_hits = ot_csls ? xmalloc(xmul(xmul(nq + 1, out_cap ? out_cap : 1), sizeof *ot_hits)) : NULL;
  size_t *ot_n = ot_csls ? xcalloc(nq + 1, sizeof *ot_n) : NULL;

  cx.pass = PASS_RANK;
  for (size_t q0 = 0; q0 < nq && rc == 0;) {
    size_t nqb = next_batch(ix, queries, q0, nq, batch);
    prepare_batch(&cx, q0, nqb);
    thread_tiles(&cx);
    if (!want) {
      cx.all = xrealloc(cx.all, xmul(xmul(nqb, ix->ndocs ? ix->ndocs : 1), sizeof *cx.all));
    } else {
      for (int i = 0; i < cx.nthreads; i++) memset(cx.ts[i].nhits, 0, nqb * sizeof(size_t));
    }
    run_parallel(&cx);
    for (size_t q = 0; q < nqb; q++) {
      rank_hit *dst = out + q * out_cap;
      nout[q] = 0;
      if (cx.qoff[q + 1] == cx.qoff[q]) continue; /* no tokens: no hits */
      size_t n = 0;
      if (!want) {
        for (size_t j = 0; j < ix->ndocs; j++)
          if (ix->rows[j]) dst[n++] = (rank_hit){(uint32_t)j, cx.all[q * ix->ndocs + j]};
        sort_hits(dst, n, ix->order);
      } else {
        for (int i = 0; i < cx.nthreads; i++) {
          memcpy(gather + n, cx.ts[i].hits + q * want, cx.ts[i].nhits[q] * sizeof *gather);
          n += cx.ts[i].nhits[q];
        }
        sort_hits(gather, n, ix->order);
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

  openblas_set_num_threads(blas_threads);
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
    if (rc == 0) sort_hits(hits + q * stride, nhits[q], ix->order);
  }
  for (size_t q = 0; q < nqb; q++) free(qmask[q]);
  for (size_t i = 0; i < total; i++) free(dmask[i]);
  free(qmask), free(dmask), free(p), free(r);
  return rc;
}
