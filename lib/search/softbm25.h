/* softbm25.h: BM25 over soft token matches, the late-interaction scorer of
 * the lexical teacher (rank --mode soft-bm25).
 *
 * Queries and documents are sets of token vectors (rank_item). A query token
 * q_i "occurs" in document d as often as its soft matches add up to:
 *
 *   tf_i(d) = sum_j phi(cos(q_i, d_j)),   phi(s) = clamp((s - tau) / (1 - tau), 0, 1)
 *
 * (s within 1e-5 of 1 counts as 1: an exact match under float rounding), and
 * is scored with Lucene's BM25 as Anserini uses it, over the whole collection:
 *
 *   df_i   = sum_d min(1, tf_i(d))                  soft document frequency
 *   idf_i  = ln(1 + (N - df_i + 0.5) / (df_i + 0.5))
 *   s(q,d) = sum_i idf_i tf_i(d) (k1 + 1) / (tf_i(d) + k1 (1 - b + b dl(d) / avgdl))
 *
 * N = every document, dl(d) = its tokens after skip_ids, avgdl = mean dl
 * over all N. A query token repeated counts once per occurrence. When every
 * token id has its own direction and no two directions come within tau of
 * each other (a static lexical encoder such as the embedded teacher), tf is
 * the count of the id in d and s(q,d) is BM25 over token ids exactly, as in
 * rank --mode bm25; with a student's vectors, a query token matches the
 * documents' tokens in proportion to how close it lies to them.
 *
 * Only documents with s > 0 are returned (as BM25 returns only documents
 * sharing a term with the query), best first, ties by document id ascending
 * (descending with tie_desc), at most k (0 = all).
 *
 * Exact and deterministic: every cosine is an entry of a float32 sgemm of a
 * query tile against a document block (shapes fixed by the data and the
 * options), reduced in double in document order; threads take whole query
 * tiles, so the output does not depend on the thread count.
 */
#ifndef OTC_SOFTBM25_H
#define OTC_SOFTBM25_H

#include "search/rank.h"

typedef struct softbm25_index softbm25_index;

/* Prepare docs[0..nd) (views that must outlive the index; d dims): group the
 * token rows left after skip[0..nskip) into distinct vectors with their
 * postings. k1, b: BM25; tau: the match threshold in [0, 1). A zero or
 * non-finite vector is an error naming the document and token (its cosine is
 * undefined). NULL with a message in err on error. */
softbm25_index *softbm25_index_new(const rank_item *docs, size_t nd, size_t d, const uint32_t *skip, size_t nskip,
                                   double k1, double b, double tau, char *err, size_t errlen);
void softbm25_index_free(softbm25_index *ix);
/* Distinct vectors per product (default 4096 documents' x 256 queries'):
 * only speed and float rounding depend on them; tests set them small. */
void softbm25_index_blocks(softbm25_index *ix, size_t block_rows, size_t tile_rows);
/* Documents with no token left: never retrieved. */
size_t softbm25_index_empty(const softbm25_index *ix);

/* Rank queries[0..nq) (their tokens in qskip left out); emit is called once
 * per query in order with at most k hits (0 = all), ties by document id
 * ascending or, with tie_desc, descending. base: the first query's record
 * number, for messages. Returns 0, or -1 with a message in err. */
int softbm25_search(const softbm25_index *ix, const rank_item *queries, size_t nq, const uint32_t *qskip,
                    size_t nqskip, size_t k, bool tie_desc, int threads, size_t base, rank_emit_fn emit, void *ctx,
                    char *err, size_t errlen);

#endif
