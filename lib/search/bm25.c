/* bm25.c: BM25 over word-piece ids with an in-memory inverted index; see bm25.h. */
#include "search/bm25.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "search/hits.h"

/* Budget for the hits of one group of queries (k x group, or every matching
 * document x group with k = 0). */
#define HITS_BYTES ((size_t)128 << 20)

struct bm25_index {
  const rank_item *docs;
  size_t ndocs;
  const uint32_t *order;
  double k1, b, avgdl;
  size_t ndocs_nonempty;
  uint32_t *skip;          /* sorted */
  size_t nskip;
  /* ids -> term numbers: open addressing, hkey[slot] valid when hval != EMPTY */
  uint32_t *hkey, *hval;
  size_t hcap, nterms, tcap;
  uint32_t *df;            /* per term: documents containing it */
  uint32_t *seen;          /* while building: per term, 1 + the last document that had it */
  double *idf;
  size_t *off;             /* term t's postings: [off[t], off[t + 1]) */
  uint32_t *pdoc, *pf;     /* postings: document, count (documents ascending) */
  double *norm;            /* per document: k1 (1 - b + b dl / avgdl) */
};

#define EMPTY UINT32_MAX

static size_t hslot(uint32_t id, size_t cap) {
  uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
  return (size_t)(h >> 32) & (cap - 1);
}

static uint32_t term_find(const bm25_index *ix, uint32_t id) {
  for (size_t s = hslot(id, ix->hcap);; s = (s + 1) & (ix->hcap - 1)) {
    if (ix->hval[s] == EMPTY) return EMPTY;
    if (ix->hkey[s] == id) return ix->hval[s];
  }
}

static void hash_grow(bm25_index *ix) {
  size_t ocap = ix->hcap, ncap = ocap ? 2 * ocap : 1024;
  uint32_t *ok = ix->hkey, *ov = ix->hval;
  ix->hkey = xmalloc(ncap * sizeof *ix->hkey);
  ix->hval = xmalloc(ncap * sizeof *ix->hval);
  memset(ix->hval, 0xff, ncap * sizeof *ix->hval);
  ix->hcap = ncap;
  for (size_t i = 0; i < ocap; i++) {
    if (ov[i] == EMPTY) continue;
    size_t s = hslot(ok[i], ncap);
    while (ix->hval[s] != EMPTY) s = (s + 1) & (ncap - 1);
    ix->hkey[s] = ok[i];
    ix->hval[s] = ov[i];
  }
  free(ok), free(ov);
}

/* The term number of id, added (with df 0) if new. */
static uint32_t term_add(bm25_index *ix, uint32_t id) {
  if (2 * (ix->nterms + 1) > ix->hcap) hash_grow(ix);
  size_t s = hslot(id, ix->hcap);
  for (; ix->hval[s] != EMPTY; s = (s + 1) & (ix->hcap - 1))
    if (ix->hkey[s] == id) return ix->hval[s];
  if (ix->nterms == ix->tcap) {
    ix->tcap = ix->tcap ? 2 * ix->tcap : 1024;
    ix->df = xrealloc(ix->df, ix->tcap * sizeof *ix->df);
    ix->seen = xrealloc(ix->seen, ix->tcap * sizeof *ix->seen);
  }
  ix->seen[ix->nterms] = 0;
  ix->hkey[s] = id;
  ix->hval[s] = (uint32_t)ix->nterms;
  ix->df[ix->nterms] = 0;
  return (uint32_t)ix->nterms++;
}

static bool in_sorted(const uint32_t *v, size_t n, uint32_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v[mid] == x) return true;
    if (v[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* The item's ids without the skipped ones, sorted into buf; returns how many. */
static size_t kept_ids(const rank_item *it, const uint32_t *skip, size_t nskip, uint32_t *buf) {
  size_t m = 0;
  if (!it->ids) return 0;
  for (uint32_t i = 0; i < it->n; i++)
    if (!nskip || !in_sorted(skip, nskip, it->ids[i])) buf[m++] = it->ids[i];
  if (m <= 24) { /* insertion sort: most texts are short */
    for (size_t i = 1; i < m; i++) {
      uint32_t x = buf[i];
      size_t j = i;
      for (; j > 0 && buf[j - 1] > x; j--) buf[j] = buf[j - 1];
      buf[j] = x;
    }
  } else {
    qsort(buf, m, sizeof *buf, cmp_u32);
  }
  return m;
}

static uint32_t *sorted_copy(const uint32_t *v, size_t n) {
  uint32_t *s = xmalloc((n + 1) * sizeof *s);
  if (n) memcpy(s, v, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_u32);
  return s;
}

bm25_index *bm25_index_new(const rank_item *docs, size_t ndocs, const uint32_t *skip, size_t nskip, double k1,
                           double b, const uint32_t *order, char *err, size_t errlen) {
  if (!(k1 >= 0 && isfinite(k1)) || !(b >= 0 && b <= 1)) {
    set_err(err, errlen, "bm25: k1 must be >= 0 and b in [0, 1] (got k1 = %g, b = %g)", k1, b);
    return NULL;
  }
  if (ndocs > UINT32_MAX - 1) {
    set_err(err, errlen, "too many documents (%zu; at most %u)", ndocs, UINT32_MAX - 1);
    return NULL;
  }
  bm25_index *ix = xcalloc(1, sizeof *ix);
  ix->docs = docs;
  ix->ndocs = ndocs;
  ix->order = order;
  ix->k1 = k1;
  ix->b = b;
  ix->skip = sorted_copy(skip, nskip);
  ix->nskip = nskip;
  hash_grow(ix);
  ix->norm = xmalloc((ndocs + 1) * sizeof *ix->norm);

  /* Pass 1: document frequencies (a term counts once per document: `seen`
   * holds the last document that had it), lengths (in norm for now). */
  size_t npost = 0;
  double sumdl = 0;
  for (size_t d = 0; d < ndocs; d++) {
    const rank_item *it = &docs[d];
    size_t m = 0;
    for (uint32_t i = 0; it->ids && i < it->n; i++) {
      if (nskip && in_sorted(ix->skip, nskip, it->ids[i])) continue;
      m++;
      uint32_t t = term_add(ix, it->ids[i]);
      if (ix->seen[t] == d + 1) continue;
      ix->seen[t] = (uint32_t)(d + 1);
      ix->df[t]++;
      npost++;
    }
    ix->norm[d] = (double)m;
    if (m) ix->ndocs_nonempty++, sumdl += (double)m;
  }
  ix->avgdl = ix->ndocs_nonempty ? sumdl / (double)ix->ndocs_nonempty : 0;

  /* Offsets, idf. */
  size_t T = ix->nterms;
  ix->off = xmalloc((T + 1) * sizeof *ix->off);
  ix->idf = xmalloc((T + 1) * sizeof *ix->idf);
  size_t *fill = xmalloc((T + 1) * sizeof *fill), *pos = xmalloc((T + 1) * sizeof *pos);
  double N = (double)ix->ndocs_nonempty;
  ix->off[0] = 0;
  for (size_t t = 0; t < T; t++) {
    ix->off[t + 1] = ix->off[t] + ix->df[t];
    fill[t] = ix->off[t];
    ix->seen[t] = 0;
    double n = ix->df[t];
    ix->idf[t] = log(1.0 + (N - n + 0.5) / (n + 0.5));
  }

  /* Pass 2: postings (document, count), documents ascending within each
   * term; pos[t] is the posting of t in the current document. */
  ix->pdoc = xmalloc((npost + 1) * sizeof *ix->pdoc);
  ix->pf = xmalloc((npost + 1) * sizeof *ix->pf);
  for (size_t d = 0; d < ndocs; d++) {
    const rank_item *it = &docs[d];
    for (uint32_t i = 0; it->ids && i < it->n; i++) {
      if (nskip && in_sorted(ix->skip, nskip, it->ids[i])) continue;
      uint32_t t = term_find(ix, it->ids[i]);
      if (ix->seen[t] == d + 1) {
        ix->pf[pos[t]]++;
        continue;
      }
      ix->seen[t] = (uint32_t)(d + 1);
      size_t p = pos[t] = fill[t]++;
      ix->pdoc[p] = (uint32_t)d;
      ix->pf[p] = 1;
    }
    double dl = ix->norm[d];
    ix->norm[d] = k1 * (1.0 - b + (ix->avgdl > 0 ? b * dl / ix->avgdl : 0));
  }
  free(fill), free(pos);
  free(ix->seen);
  ix->seen = NULL;
  return ix;
}

void bm25_index_free(bm25_index *ix) {
  if (!ix) return;
  free(ix->skip), free(ix->hkey), free(ix->hval), free(ix->df), free(ix->seen), free(ix->idf);
  free(ix->off), free(ix->pdoc), free(ix->pf), free(ix->norm);
  free(ix);
}

size_t bm25_index_empty(const bm25_index *ix) { return ix->ndocs - ix->ndocs_nonempty; }
size_t bm25_index_terms(const bm25_index *ix) { return ix->nterms; }
double bm25_avgdl(const bm25_index *ix) { return ix->avgdl; }

double bm25_idf(const bm25_index *ix, uint32_t id) {
  uint32_t t = term_find(ix, id);
  return t == EMPTY ? 0 : ix->idf[t];
}

/* ---- search ---- */

typedef struct {
  double *acc;       /* per document; 0 = not touched (every term adds > 0) */
  uint32_t *touched;
  uint32_t *qbuf;
  size_t qcap;
} scratch;

typedef struct {
  const bm25_index *ix;
  const rank_item *queries; /* this group's */
  const uint32_t *qskip;
  size_t nqskip, cap, k;
  scratch *sc;
  rank_hit *out;            /* group x cap */
  size_t *nout;
} search_ctx;

static void search_one(void *p, size_t q, int worker) {
  search_ctx *cx = p;
  const bm25_index *ix = cx->ix;
  scratch *s = &cx->sc[worker];
  const rank_item *it = &cx->queries[q];
  if (it->n > s->qcap) s->qbuf = xrealloc(s->qbuf, (s->qcap = it->n) * sizeof *s->qbuf);
  size_t m = kept_ids(it, cx->qskip, cx->nqskip, s->qbuf);
  size_t ntouched = 0;
  double k1p1 = ix->k1 + 1;
  for (size_t i = 0; i < m;) {
    size_t j = i + 1;
    while (j < m && s->qbuf[j] == s->qbuf[i]) j++;
    uint32_t t = term_find(ix, s->qbuf[i]);
    if (t != EMPTY) {
      double w = ix->idf[t] * (double)(j - i);
      for (size_t x = ix->off[t]; x < ix->off[t + 1]; x++) {
        uint32_t d = ix->pdoc[x];
        double f = ix->pf[x];
        if (s->acc[d] == 0) s->touched[ntouched++] = d;
        s->acc[d] += w * (f * k1p1) / (f + ix->norm[d]);
      }
    }
    i = j;
  }
  rank_hit *h = cx->out + q * cx->cap;
  size_t n = 0;
  if (ntouched <= cx->cap) {
    for (size_t i = 0; i < ntouched; i++) h[n++] = (rank_hit){s->touched[i], s->acc[s->touched[i]]};
  } else {
    for (size_t i = 0; i < ntouched; i++)
      rank_heap_push(h, &n, cx->cap, (rank_hit){s->touched[i], s->acc[s->touched[i]]}, ix->order);
  }
  rank_sort_hits(h, n, ix->order);
  for (size_t i = 0; i < ntouched; i++) s->acc[s->touched[i]] = 0;
  cx->nout[q] = n;
}

int bm25_search(const bm25_index *ix, const rank_item *queries, size_t nq, const uint32_t *qskip, size_t nqskip,
                size_t k, int threads, rank_emit_fn emit, void *ctx) {
  if (threads < 1) threads = otc_threads();
  size_t cap = k && k < ix->ndocs ? k : ix->ndocs;
  if (!cap) cap = 1;
  size_t group = HITS_BYTES / (cap * sizeof(rank_hit));
  if (group < 1) group = 1;
  if (group > nq) group = nq ? nq : 1;
  int nw = pool_workers(threads);
  search_ctx cx = {ix, NULL, NULL, nqskip, cap, k, xcalloc((size_t)nw, sizeof(scratch)),
                   xmalloc(xmul(xmul(group, cap), sizeof(rank_hit))), xmalloc(group * sizeof(size_t))};
  uint32_t *qs = sorted_copy(qskip, nqskip);
  cx.qskip = qs;
  for (int w = 0; w < nw; w++) {
    cx.sc[w].acc = xcalloc(ix->ndocs + 1, sizeof(double));
    cx.sc[w].touched = xmalloc((ix->ndocs + 1) * sizeof(uint32_t));
  }
  for (size_t q0 = 0; q0 < nq; q0 += group) {
    size_t n = nq - q0 < group ? nq - q0 : group;
    cx.queries = queries + q0;
    pool_each(n, nw, search_one, &cx);
    for (size_t q = 0; q < n; q++) emit(ctx, q0 + q, cx.out + q * cap, cx.nout[q]);
  }
  for (int w = 0; w < nw; w++) free(cx.sc[w].acc), free(cx.sc[w].touched), free(cx.sc[w].qbuf);
  free(cx.sc), free(cx.out), free(cx.nout), free(qs);
  return 0;
}
