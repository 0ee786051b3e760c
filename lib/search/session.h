/* search/session.h: a whole search as `rank` runs it, in library calls: the
 * query input, the run output, one search of a document file, and the merge
 * of the runs of a sharded search. The program parses options, opens the
 * documents and stdin, and calls these; nothing here prints or exits.
 *
 * Sharding (rank_merge): split the document file into disjoint shards (e.g.
 * `rec split -n N`), rank the same queries against each with the same
 * options, and merge the runs: the result is byte for byte the run of the
 * unsplit search. This is exact because (1) a score does not depend on the
 * other documents of a search (rank.h: small products are padded out of
 * OpenBLAS's small-matrix kernels), (2) hits are totally ordered (score, then
 * docid), so the k best of the collection are the k best of the union of
 * each shard's k best, and (3) a shard ranked with -k >= the merge's k
 * returns its k best. Refused: runs made with --csls (r_q, the mean of a
 * query's K best similarities over ALL documents, differs in every shard; an
 * exact two-pass scheme would first merge each query's K best similarities
 * of every shard, then rank each shard with that r_q: r_d needs only the
 * queries, which every shard has), `ot` (it reranks the R best first-stage
 * candidates of the whole collection: a shard's R best are others) and
 * `bm25` (idf, N and avgdl are statistics of the whole collection).
 */
#ifndef OTC_SEARCH_SESSION_H
#define OTC_SEARCH_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "search/rank.h"

struct rec_reader;

/* ---- queries ---- */
typedef struct {
  rank_item *items;
  size_t n, cap;
  uint64_t first;     /* record number in the input of items[0] */
} rank_queries;

/* Replace qs's queries with up to max (0 = all) more records of r: id, ids
 * and, when d > 0, vecs[n][d] and the optional vec[d] (copied: the reader's
 * records do not outlive the next read). 1 = some read, 0 = the input is
 * exhausted, -1 = error (message naming the input and the record). */
int rank_queries_read(struct rec_reader *r, rank_queries *qs, size_t max, size_t d, char *err, size_t errlen);
void rank_queries_free(rank_queries *qs);

/* ---- runs out ---- */
typedef struct rank_out rank_out;
/* Writes all of buf or does not return (the program's stdout writer). */
typedef void (*rank_write_fn)(const void *buf, size_t n);

typedef struct {
  const char *docid;
  size_t len;
  double score;
} rank_named_hit;

/* A run: `run` records (qid, docid, rank, score) written to path ("-" or
 * NULL: stdout; a file is written under a temporary name and renamed when
 * closed), or with trec the lines "qid Q0 docid rank score tag" through
 * write, scores in the shortest form that reads back as the same double.
 * tag: the TREC tag and the runid metadata (NULL: the default given to
 * rank_out_start). */
rank_out *rank_out_new(bool trec, const char *tag, rank_write_fn write, const char *path);
/* Before the first query: the run stream's metadata rank_mode, runid,
 * rank_k and rank_ties (what rank_merge reads back). 0, or -1 + message. */
int rank_out_start(rank_out *o, const char *mode_desc, const char *default_tag, size_t k, bool tie_desc, char *err,
                   size_t errlen);
/* One query's hits, best first, ranked 1..n. A TREC id must be one word:
 * an empty or spaced qid or docid is an error naming the query record. */
int rank_out_query(rank_out *o, const char *qid, size_t qidlen, uint64_t qrec, const rank_named_hit *hits, size_t n,
                   char *err, size_t errlen);
/* With trec: every document id of docs must be one word (else -1 + a
 * message naming the file and record), checked before searching. */
int rank_out_check_docs(const rank_out *o, const rank_docs *docs, char *err, size_t errlen);
/* Finish (the end frame of a run stream) and free. 0, or -1 + message. */
int rank_out_close(rank_out *o, char *err, size_t errlen);
/* The system error behind a failed write of the run stream (EPIPE: the
 * reader went away, which the program treats as a quiet end), or 0. */
int rank_out_errno(const rank_out *o);
void rank_out_abort(rank_out *o);

/* ---- one search ---- */
typedef struct {
  rank_opts search;             /* mode, sim, k, ties, csls, ot, bm25, threads (skip lists: set by rank_run) */
  bool allow_model_mismatch;
  bool skip_special;            /* vector modes: leave out each stream's special_ids */
  const uint32_t *skip_ids;     /* --skip-ids: both sides (bm25: besides the specials) */
  size_t nskip;
  void (*progress)(void *ctx, uint64_t queries_done);
  void *progress_ctx;
} rank_run_opts;

typedef struct {
  size_t docs, empty_docs;      /* documents, and those never retrieved (no tokens to compare) */
  uint64_t queries, empty_queries; /* queries, and those that got no hits */
} rank_run_stats;

/* Rank every query of `queries` (stdin: `vectors`, or `tokens` for bm25)
 * against docs, batch by batch (all at once with CSLS), into out: the
 * metadata checks of rank.h, the skip lists, the index, the search. The
 * document file is checked (rank_docs_intact) before anything computed from
 * it is written. 0, or -1 + message. */
int rank_run(rank_docs *docs, struct rec_reader *queries, rank_run_opts *ro, rank_out *out, rank_run_stats *st,
             char *err, size_t errlen);

/* ---- merge ---- */
/* Merge the run streams runs[0..nruns) of a sharded search (each shard
 * ranked with the same queries and options) into out, in the order of the
 * queries on `queries` (any stream with a str field id: the queries the
 * shards were given; a query without hits in a shard simply has no records
 * there). k: hits per query, 0 = the shards' rank_k (which must agree); a k
 * above a shard's is refused (it did not keep enough). Ties: the shards'
 * rank_ties. Refused: runs of different modes or tie orders, csls/ot/bm25
 * runs (see above), a document in two shards, records out of their query's
 * order or not among the queries. 0, or -1 + message. */
int rank_merge(const char *const *runs, size_t nruns, struct rec_reader *queries, size_t k, rank_out *out,
               rank_run_stats *st, char *err, size_t errlen);

#endif
