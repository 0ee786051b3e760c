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

typedef struct {
  double k1, b; /* BM25 (default 0.9, 0.4) */
  double tau;   /* match threshold on the cosine, in [0, 1) (default 0.5) */
} softbm25_params;

void softbm25_params_default(softbm25_params *p);

/* Rank queries[0..nq) against docs[0..nd) (d dims each, rank_item views).
 * Uses from o: k, tie_desc, skip_ids / q_skip_ids, threads, block_rows,
 * tile_rows. emit is called once per query in order. A zero vector is an
 * error (its cosine is undefined), naming the item and token. Returns 0, or
 * -1 with a message in err. */
int softbm25_search(const rank_item *docs, size_t nd, const rank_item *queries, size_t nq, size_t d,
                    const rank_opts *o, const softbm25_params *p, rank_emit_fn emit, void *ctx, char *err,
                    size_t errlen);

#endif
