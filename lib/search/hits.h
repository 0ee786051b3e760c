/* search/hits.h: the one order of hits every search mode shares.
 *
 * Hits are ordered by score descending, exact ties by a document's tie rank:
 * its position in the bytewise (strcmp) order of the document ids, ascending,
 * or descending with `desc` (trec_eval's order). The tie ranks are computed
 * once per collection (rank_tie_order), which is also where a duplicate
 * document id is found. */
#ifndef OTC_SEARCH_HITS_H
#define OTC_SEARCH_HITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "search/rank.h"

/* order[doc] = tie rank of docs[doc] (0 wins ties), malloc'ed; NULL with
 * "duplicate document id 'x' (documents i and j, counting from 0)" in err. */
uint32_t *rank_tie_order(const rank_item *docs, size_t ndocs, bool desc, char *err, size_t errlen);

static inline bool rank_hit_better(const uint32_t *order, rank_hit a, rank_hit b) {
  return a.score > b.score || (a.score == b.score && order[a.doc] < order[b.doc]);
}

/* A bounded heap of the best `cap` hits; h[0] is the worst kept. */
void rank_heap_push(rank_hit *h, size_t *n, size_t cap, rank_hit x, const uint32_t *order);
/* Sort best first. */
void rank_sort_hits(rank_hit *h, size_t n, const uint32_t *order);

#endif
