/* hits.c: the order of hits (see hits.h). */
#include "search/hits.h"

#include <stdlib.h>

#include "base/util.h"

static int cmp_docid(const void *a, const void *b, void *ctx) {
  const rank_item *docs = ctx;
  const rank_item *x = &docs[*(const uint32_t *)a], *y = &docs[*(const uint32_t *)b];
  return rank_idcmp(x->id, x->idlen, y->id, y->idlen);
}

uint32_t *rank_tie_order(const rank_item *docs, size_t ndocs, bool desc, char *err, size_t errlen) {
  /* Sorted by id, adjacent equal ids are duplicates, which would make a run
   * list one document twice. */
  uint32_t *perm = xmalloc((ndocs + 1) * sizeof *perm);
  for (size_t i = 0; i < ndocs; i++) perm[i] = (uint32_t)i;
  qsort_r(perm, ndocs, sizeof *perm, cmp_docid, (void *)docs);
  uint32_t *order = xmalloc((ndocs + 1) * sizeof *order);
  for (size_t i = 0; i < ndocs; i++) {
    if (i > 0 && !cmp_docid(&perm[i - 1], &perm[i], (void *)docs)) {
      const rank_item *a = &docs[perm[i - 1]];
      uint32_t lo = perm[i - 1] < perm[i] ? perm[i - 1] : perm[i], hi = perm[i - 1] ^ perm[i] ^ lo;
      set_err(err, errlen, "duplicate document id '%.*s' (documents %u and %u, counting from 0)",
              (int)(a->idlen > 200 ? 200 : a->idlen), a->id, lo, hi);
      free(perm);
      free(order);
      return NULL;
    }
    order[perm[i]] = (uint32_t)(desc ? ndocs - 1 - i : i);
  }
  free(perm);
  return order;
}

void rank_heap_push(rank_hit *h, size_t *n, size_t cap, rank_hit x, const uint32_t *order) {
  size_t i;
  if (*n < cap) {
    i = (*n)++;
    while (i > 0) {
      size_t p = (i - 1) / 2;
      if (!rank_hit_better(order, h[p], x)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = x;
    return;
  }
  if (cap == 0 || !rank_hit_better(order, x, h[0])) return;
  i = 0;
  for (;;) {
    size_t l = 2 * i + 1, c;
    if (l >= *n) break;
    c = l;
    if (l + 1 < *n && rank_hit_better(order, h[l], h[l + 1])) c = l + 1;
    if (!rank_hit_better(order, x, h[c])) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

static int cmp_hit(const void *a, const void *b, void *order) {
  rank_hit x = *(const rank_hit *)a, y = *(const rank_hit *)b;
  if (rank_hit_better(order, x, y)) return -1;
  if (rank_hit_better(order, y, x)) return 1;
  return 0;
}

void rank_sort_hits(rank_hit *h, size_t n, const uint32_t *order) {
  qsort_r(h, n, sizeof *h, cmp_hit, (void *)order);
}
