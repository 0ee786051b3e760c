/* search/bm25.h: BM25 over word-piece ids, as Lucene's BM25Similarity as
 * Anserini uses it (rank --mode bm25), through an inverted index built in
 * memory from the document items (views into the memory-mapped `tokens`
 * file: nothing is copied but the postings).
 *
 * For a query q and a document D, over the query's ids t (an id repeated in
 * the query counts once per occurrence, so its term is multiplied by its
 * count in the query):
 *
 *   score(q, D) = sum_t  idf(t) * f(t,D) (k1 + 1) / (f(t,D) + k1 (1 - b + b dl(D) / avgdl))
 *   idf(t)      = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))
 *
 * f(t,D) the count of t in D, n(t) the documents containing t, dl(D) the ids
 * of D, N the documents having at least one id and avgdl their mean dl (as
 * Lucene's docCount and sumTotalTermFreq / docCount). Skipped ids (the
 * specials, --skip-ids) are left out of everything: not indexed, not counted
 * in dl, ignored in queries. Lucene stores dl lossily in one byte; we use it
 * exactly, so Anserini's scores differ from ours in about the third digit on
 * long documents.
 *
 * Only documents that share at least one id with the query are scored and
 * retrieved (every such score is > 0; the others would score 0), so a run
 * may list fewer than k documents. Order and ties: search/hits.h. Scores are
 * accumulated in double, term by term in ascending id order, document by
 * document: the same for any thread count.
 *
 * Memory: 8 bytes per posting (document, count), 8 bytes per document, a
 * hash of the distinct ids; per thread an accumulator of 12 bytes per
 * document. The index is built in two linear passes over the documents' ids
 * (no sorting), each run: 200k documents of 110 ids (22M) take 3.2 s with
 * validating the file, on a loaded 2-core machine, so it is not cached.
 */
#ifndef OTC_SEARCH_BM25_H
#define OTC_SEARCH_BM25_H

#include <stddef.h>
#include <stdint.h>

#include "search/rank.h"

#define BM25_K1 0.9
#define BM25_B 0.4

typedef struct bm25_index bm25_index;

/* Index docs[0..ndocs) (their ids; kept by pointer), leaving out
 * skip[0..nskip) (any order). order: the tie ranks (search/hits.h), kept by
 * pointer. k1 >= 0, 0 <= b <= 1. NULL + message on bad parameters. */
bm25_index *bm25_index_new(const rank_item *docs, size_t ndocs, const uint32_t *skip, size_t nskip, double k1,
                           double b, const uint32_t *order, char *err, size_t errlen);
void bm25_index_free(bm25_index *ix);
size_t bm25_index_empty(const bm25_index *ix); /* documents without any indexed id */
size_t bm25_index_terms(const bm25_index *ix); /* distinct ids indexed */
double bm25_avgdl(const bm25_index *ix);
double bm25_idf(const bm25_index *ix, uint32_t id); /* 0 for an id in no document */

/* Rank queries[0..nq) (their ids, leaving out qskip), k hits each (0 = every
 * matching document), calling emit once per query in query order. threads
 * < 1: otc_threads(). Returns 0 (it cannot fail once the index exists). */
int bm25_search(const bm25_index *ix, const rank_item *queries, size_t nq, const uint32_t *qskip, size_t nqskip,
                size_t k, int threads, rank_emit_fn emit, void *ctx);

#endif
