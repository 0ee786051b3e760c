/* rank.h: exact search of query token-vector sets against a document
 * collection of token-vector sets (the `vectors` records of schemas/vectors.yaml).
 *
 * Every similarity is an entry of a matrix product computed with cblas_sgemm:
 * all token rows of a batch of queries times all token rows of a block of
 * documents, followed by segmented max/sum reductions. The search is exact
 * (no index structure, no pruning).
 *
 * Scores, with s(x, y) = x.y on unit vectors (--sim cos, the default) or on the
 * raw vectors (--sim dot), q_1..q_n the query tokens and d_1..d_m the document
 * tokens (tokens whose id is in skip_ids, or q_skip_ids for the queries, are
 * removed first):
 *   dense       s(q, d) of the pooled vectors: the record's `vec` if present
 *               (and pool_mean is off), else the mean of its token vectors
 *               (normalised afterwards under cos).
 *   maxsim      sum_i max_j s(q_i, d_j) (ColBERT), or that sum divided by n
 *               (maxsim_mean).
 *   maxsim-sym  (1/n sum_i max_j s(q_i, d_j) + 1/m sum_j max_i s(q_i, d_j)) / 2:
 *               both directions always averaged over their own tokens, so the
 *               score stays in [-1, 1] under cos whatever the lengths.
 *   ot          the top ot_candidates documents of ot_base (with CSLS if asked)
 *               reranked by -C, C the entropic OT transport cost between the
 *               token sets under the cosine cost 1 - cos(q_i, d_j), uniform
 *               weights (lib/ot.h). Only those candidates are returned.
 *   bm25        Lucene's BM25 over the token ids (no vectors; search/bm25.h):
 *               the items' ids only, skip_ids / q_skip_ids left out; only
 *               documents sharing an id with the query are returned; no CSLS.
 *   soft-bm25   BM25 over soft token matches (search/softbm25.h): a query
 *               token occurs in d as often as its cosines to d's tokens above
 *               soft_tau add up, each (cos - tau)/(1 - tau); idf from the soft
 *               document frequency; equal to bm25 for a static encoder (one
 *               vector per id). Returns documents with a score > 0; no CSLS.
 * The float32 products are reduced in double; a score is a double.
 *
 * Zero vectors: wherever a cosine is taken (sim cos, and the cosine cost of
 * ot whatever its first stage's sim), a zero vector used by the search (a
 * token not skipped, a pooled `vec`, or a zero mean) has no direction and
 * the search fails: "NAME: document record 3 ('d3'), token 1: cosine
 * undefined: zero vector" (the first such document in file order; queries
 * are checked batch by batch, so the hits of earlier batches were emitted).
 *
 * CSLS (csls_k = K > 0): score'(q, d) = 2 s(q, d) - r_q - r_d, r_q the mean of
 * the K largest s(q, .) over all documents, r_d the mean of the K largest
 * s(., d) over ALL queries of the call (fewer if there are fewer than K).
 * r_d needs every query before any query can be ranked: the caller passes the
 * whole query set in one rank_search call (the program then holds all query
 * vectors in memory), and the similarities are computed twice (a first pass
 * for r_q and r_d, a second for the ranking), which doubles the time. r_d
 * costs K doubles per document. For `ot`, CSLS is applied twice: to the
 * first stage (which candidates), then to the OT scores -C over the candidate
 * pairs that exist (r_q over q's candidates, r_d over the queries having d as
 * a candidate), so every query's candidate list is held until the end.
 *
 * Order: by score descending, ties by document id ascending (bytewise, as
 * strcmp), or descending with tie_desc. Note that trec_eval and `score`
 * re-sort a run by score and break ties by docid DESCENDING, so an exact tie
 * is evaluated in the opposite order of our `rank` column unless tie_desc is
 * set (`rank --ties desc`).
 *
 * Determinism: documents are cut into blocks by a fixed row budget and every
 * sgemm call has a shape that depends only on the data and the options, never
 * on the thread count; the workers of base/pool.h claim whole blocks, with
 * OpenBLAS itself single-threaded, and per-worker partial results are merged
 * under the total order above. So the output is bit-identical for any thread
 * count (and, small products being padded, a score is the same bits whatever
 * other documents are searched: see rank_opts.block_rows).
 * (rank_search sets OpenBLAS to one thread for its duration and restores the
 * previous count: do not run other BLAS work concurrently in the process.)
 *
 * Memory: the documents are views (typically into a memory-mapped file); the
 * index adds 8 bytes per document to the caller's rank_item array. Per thread: one block
 * of document rows (block_rows x d floats, at least 10^6 / d rows for the
 * padding), one product tile (at most tile_rows x block_rows floats), and per query of a batch a heap of k hits
 * (and K values with CSLS); the batch shrinks so that the heaps of all
 * threads stay under 128 MiB. k = 0 (all) keeps batch x documents doubles
 * instead, also under 128 MiB (plus twice that for the sorted hits).
 */
#ifndef OTC_RANK_H
#define OTC_RANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

typedef enum { RANK_DENSE, RANK_MAXSIM, RANK_MAXSIM_SYM, RANK_OT, RANK_BM25, RANK_SOFT_BM25 } rank_mode;
typedef enum { RANK_COS, RANK_DOT } rank_sim;

typedef struct {
  rank_mode mode;
  rank_sim sim;
  bool maxsim_mean;          /* maxsim: average over query tokens instead of summing */
  bool pool_mean;            /* dense: mean of the token vectors even when `vec` is present */
  int csls_k;                /* 0 = no hubness correction */
  size_t k;                  /* hits per query; 0 = all */
  bool tie_desc;             /* ties by docid descending (trec_eval's order) */
  const uint32_t *skip_ids;  /* token ids whose vectors are left out (e.g. [CLS], [SEP]) */
  size_t nskip;
  const uint32_t *q_skip_ids; /* for the queries, when non-NULL (their vocabulary may differ); */
  size_t nq_skip;             /* else skip_ids apply to both sides */
  int threads;               /* <= 0: otc_threads() */
  size_t batch;              /* queries per batch; 0 = default 4096 */
  /* ot mode */
  rank_mode ot_base;         /* first stage: RANK_DENSE, RANK_MAXSIM or RANK_MAXSIM_SYM */
  size_t ot_candidates;      /* R, 0 = default 100 */
  double ot_eps;             /* Sinkhorn regularisation, 0 = default 0.05 */
  int ot_max_iter;           /* 0 = default 1000 */
  double ot_tol;             /* 0 = default 1e-6 (L1 marginal error) */
  /* bm25 and soft-bm25 modes */
  double bm25_k1, bm25_b;    /* default 0.9 and 0.4 (Anserini's) */
  double soft_tau;           /* soft-bm25: match threshold on the cosine (default 0.5) */
  /* For messages: the names of the document and query inputs (NULL:
   * "documents", "queries") and the record number of queries[0]. */
  const char *doc_name, *query_name;
  size_t query_base;
  /* Rows of a document block and of a query tile (0 = 2048 and 1024). Only
   * speed and memory depend on them: a score is the same bits whatever
   * documents share its products (small products are padded out of
   * OpenBLAS's small-matrix kernels, whose rounding differs), so a search
   * split into shards gives the scores of the whole. Tests set them small to
   * exercise many blocks. */
  size_t block_rows, tile_rows;
} rank_opts;

/* Defaults: dense, cos, k 100, ot_base maxsim-sym, bm25 k1 0.9 b 0.4, the rest zero/off. */
void rank_opts_default(rank_opts *o);
const char *rank_mode_name(rank_mode m);
int rank_mode_parse(const char *s, rank_mode *out); /* 0 ok, -1 unknown */

/* One text: views, not copies. id need not be NUL-terminated. */
typedef struct {
  const char *id;
  size_t idlen;
  uint32_t n;              /* tokens */
  const float *vecs;       /* n x d, row-major */
  const uint32_t *ids;     /* n token ids; may be NULL when nskip == 0 */
  const float *vec;        /* pooled vector (d), or NULL */
} rank_item;

typedef struct {
  uint32_t doc;            /* index into the document array */
  double score;
} rank_hit;

typedef struct rank_index rank_index;

/* Prepare a search over docs[0..ndocs) (kept by pointer: they must outlive the
 * index). Fails (NULL, message in err) on a duplicate document id. Documents
 * with no tokens left after skip_ids (or no tokens at all) are never
 * retrieved: rank_index_empty() counts them. The options that matter here
 * (mode, sim, skip_ids, pool_mean, tie_desc) must be the same at search time. */
rank_index *rank_index_new(const rank_item *docs, size_t ndocs, size_t d, const rank_opts *o,
                           char *err, size_t errlen);
void rank_index_free(rank_index *ix);
size_t rank_index_empty(const rank_index *ix);

/* Called once per query, in query order; hits are best first. A query with no
 * tokens left gets nhits = 0. */
typedef void (*rank_emit_fn)(void *ctx, size_t query, const rank_hit *hits, size_t nhits);

/* Rank queries[0..nq) (d as the index). With csls_k the whole query set must
 * be in this one call. Returns 0, or -1 with a message in err. */
int rank_search(rank_index *ix, const rank_item *queries, size_t nq, const rank_opts *o,
                rank_emit_fn emit, void *ctx, char *err, size_t errlen);

/* Why --csls is refused with bm25 (the message). */
extern const char rank_bm25_csls_reason[];

/* Compare two ids as strcmp would (bytewise unsigned, a prefix first). */
int rank_idcmp(const char *a, size_t alen, const char *b, size_t blen);

/* ---- document files (lib/rank_docs.c) ---- */
struct rec_schema;
struct rec_reader;

/* Limits (documented in rank's manual): vectors of at most RANK_MAX_D
 * dimensions; a zstd document file may expand to at most
 * RANK_CACHE_MAX_RATIO times its size (+ 1 MiB); temporaries of a cache
 * build that died are removed by a later run once they are older than
 * RANK_STALE_SECONDS and unlocked. */
#define RANK_MAX_D 65536
#define RANK_CACHE_MAX_RATIO 256
#define RANK_STALE_SECONDS 10

/* A `vectors` (or, for bm25, `tokens`) stream file, memory-mapped: items
 * point into the mapping (a `tokens` item has vecs = vec = NULL, d = 0). */
typedef struct {
  rank_item *items;
  size_t n, d;                      /* d = 0 for a stream without records */
  const struct rec_schema *schema;  /* the stream's schema and metadata */
  char *path;                       /* the file given */
  char *mapped;                     /* path of the mapped file: the file, or its decompressed cache */
  bool from_cache;                  /* a zstd file was decompressed (now or by an earlier run) */
  void *map;
  size_t maplen;
  int fd;                           /* the mapped file, kept open to notice a change */
  struct stat st;                   /* ... as it was when mapped */
  int guard;                        /* slot of the SIGBUS guard, -1 if none */
  struct rec_reader *reader;
} rank_docs;

/* Open a stream file of record type `record` ("vectors" or "tokens"). An
 * uncompressed file is mapped as it is. A zstd-compressed one is decompressed
 * once into a cache file and that is mapped: the cache is
 * ".NAME.KEY.rank-cache" beside the file when its directory is writable and
 * cache_dir is NULL, else "otclir-KEY.rank-cache" in cache_dir (NULL:
 * $TMPDIR, else /tmp); KEY hashes the file's device, inode, size and
 * modification time, so a changed file gets a new cache (and the old one of
 * that name beside it is removed); an existing cache is reused only if it is
 * a regular file owned by the user. The cache is built record by record
 * through the stream reader: header, schema (type, layout, d) and every frame
 * are validated before they are written, the expansion is bounded by
 * RANK_CACHE_MAX_RATIO, and it is written to a locked temporary name and
 * renamed, so concurrent runs are safe and a build that dies leaves a
 * temporary that a later run removes. A cache that fails validation when
 * mapped is removed. Every record is validated (CRCs, shapes, finite values,
 * the end frame: a truncated file is an error); a schema fixing d above
 * RANK_MAX_D is refused.
 *
 * The mapping is guarded: if another process truncates the file while it is
 * mapped, the SIGBUS that would kill the program is caught (a process-wide
 * handler for addresses in guarded mappings; others keep their previous
 * disposition), the vanished pages read as zeros, and rank_docs_intact()
 * reports it. Returns NULL with a message naming the file (and record, byte
 * offset). */
rank_docs *rank_docs_open(const char *path, const char *record, const char *cache_dir, char *err, size_t errlen);
/* 0 if the file is as it was when mapped; -1 + message naming it if it was
 * truncated (pages vanished) or modified in place since. Ask before writing
 * anything computed from the documents. */
int rank_docs_intact(const rank_docs *dc, char *err, size_t errlen);
void rank_docs_close(rank_docs *dc);

/* Refuse to compare streams of different dims, a d above RANK_MAX_D, or, unless allow_model,
 * different stream metadata under any of the keys model, layer, vocab,
 * special_ids, and pooling when uses_pooled (dense mode reading the pooled
 * `vec`); a key set on one side only is a difference too. A zero d (no
 * records) skips the dim check. Returns 0 or -1 + message. */
int rank_meta_check(const struct rec_schema *queries, size_t d_queries, const struct rec_schema *docs,
                    size_t d_docs, bool allow_model, bool uses_pooled, char *err, size_t errlen);

/* bm25: refuse `tokens` streams made with different vocabularies (the
 * `vocab` metadata differs, or is set on one side only). Not lifted by
 * --allow-model-mismatch: ids of another vocabulary name other pieces. */
int rank_bm25_meta_check(const struct rec_schema *queries, const struct rec_schema *docs, char *err, size_t errlen);

/* Parse a list of token ids "101,102" (also from the `special_ids` metadata).
 * Returns 0 and a malloc'ed array, or -1 on a malformed list. */
int rank_parse_ids(const char *s, uint32_t **ids, size_t *n);

#endif
