/*
 * rank: exact dense, late-interaction (MaxSim), OT and BM25 retrieval of queries against a document collection
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"
#include "search/rank.h"
#include "search/session.h"
#include "stream/rec.h"

static const char usage[] =
    "Usage: rank --docs FILE [--mode dense|maxsim|maxsim-sym|ot] [--sim cos|dot] [--csls K]\n"
    "            [-k N] [--skip-special | --skip-ids LIST] [--trec [--tag T]] [--threads N] < QUERIES\n"
    "       rank --docs FILE --mode bm25 [--k1 X] [--b X] [-k N] [--skip-ids LIST] [--trec] < QUERIES\n"
    "       rank --docs FILE --mode soft-bm25 [--k1 X] [--b X] [--match-threshold T] [--skip-special] < QUERIES\n"
    "       rank --merge [-k N] [--trec] [--tag T] RUN... < QUERIES\n";

static const char manual[] =
    "rank: search a document collection with queries, exactly.\n"
    "\n"
    "Reads `vectors` records (id, ids[n], vecs[n][d], optional vec[d]) on stdin, the\n"
    "queries, and searches the `vectors` stream in the file given by --docs. Writes one\n"
    "`run` record (qid, docid, rank, score) per retrieved document, best first, or with\n"
    "--trec the lines of a TREC run: `qid Q0 docid rank score tag`.\n"
    "\n"
    "Scores (s(x, y) = cosine, or dot product with --sim dot; q_1..q_n the query's\n"
    "token vectors, d_1..d_m the document's, after --skip-* removed tokens):\n"
    "  dense       s of the pooled vectors: the record's `vec` if it has one, else the\n"
    "              mean of its token vectors (--pool mean: always the mean).\n"
    "  maxsim      sum_i max_j s(q_i, d_j), late interaction as in ColBERT;\n"
    "              --maxsim-mean divides by n.\n"
    "  maxsim-sym  (mean_i max_j s(q_i, d_j) + mean_j max_i s(q_i, d_j)) / 2: both\n"
    "              directions, each averaged over its own tokens.\n"
    "  ot          the top R documents of --ot-base (default maxsim-sym) reranked by\n"
    "              -<P, C>, P the entropic OT plan (Sinkhorn) between the token sets\n"
    "              under the cost C = 1 - cos, uniform weights. Returns at most R.\n"
    "  bm25        Lucene's BM25 (as Anserini) over word-piece ids: queries and\n"
    "              documents are `tokens` streams of one vocabulary (see below).\n"
    "  soft-bm25   BM25 over soft token matches of `vectors` streams (see below).\n"
    "The search is exact: float32 matrix products (OpenBLAS sgemm) of every query\n"
    "token against every document token, reduced in double.\n"
    "\n"
    "BM25 (--mode bm25): DOCS and the queries are `tokens` streams (tokenize's\n"
    "output); a stream of another type, or streams whose `vocab` metadata differ\n"
    "(set on one side only counts), are refused whatever --allow-model-mismatch.\n"
    "  score = sum over the query's ids t (repeats count once per occurrence) of\n"
    "    idf(t) f (k1 + 1) / (f + k1 (1 - b + b dl / avgdl)),\n"
    "    idf(t) = ln(1 + (N - n + 0.5) / (n + 0.5)),\n"
    "  f the count of t in the document, n the documents containing t, dl the\n"
    "  document's ids, N the documents with at least one id, avgdl their mean dl.\n"
    "  The ids in each stream's `special_ids` metadata ([CLS], [SEP]) and those of\n"
    "  --skip-ids are left out everywhere (a stream without `special_ids` needs\n"
    "  --skip-ids). Only documents sharing an id with the query are returned (all\n"
    "  others would score 0), so a query may get fewer than -k hits. dl is exact\n"
    "  (Lucene rounds it to one byte). The inverted index is built in memory from\n"
    "  the memory-mapped file at start (about 1.5 s per 10 million ids; 8 bytes a\n"
    "  posting).\n"
    "  --csls is refused: BM25 scores have no common scale for a hubness correction.\n"
    "\n"
    "Soft BM25 (--mode soft-bm25): BM25 where a query token q_i occurs in a document\n"
    "as often as its soft matches add up to, over `vectors` streams:\n"
    "    tf_i(d) = sum_j phi(cos(q_i, d_j)),  phi(c) = min(1, max(0, (c - T) / (1 - T)))\n"
    "  T = --match-threshold (default 0.5; a cosine within 1e-5 of 1 counts 1), idf\n"
    "  from the soft document frequency df_i = sum_d min(1, tf_i(d)), dl = the\n"
    "  document's tokens after --skip-*, N = all documents, avgdl their mean; the\n"
    "  BM25 formula above, --k1 and --b as there. For a static encoder (one vector\n"
    "  per token id, no two within T: the embedded teacher) this is bm25 over the\n"
    "  ids; a student's token counts for the teacher's tokens it lies close to. The\n"
    "  work is per distinct vector (identical vectors are grouped by their bytes),\n"
    "  so a static encoder costs (distinct query vectors) x (distinct document\n"
    "  vectors) products, not tokens x tokens. Only documents with a score > 0 are\n"
    "  returned; --csls is refused as for bm25.\n"
    "\n"
    "Hubness correction (--csls K, not bm25): score = 2 s(q,d) - r_q - r_d, with r_q\n"
    "the mean of q's K best similarities over all documents and r_d the mean of d's\n"
    "K best similarities over ALL queries of the input. So with --csls, rank reads\n"
    "every query into memory before writing anything, and computes the similarities\n"
    "twice. With --mode ot it corrects the first stage, then the OT scores over\n"
    "the candidate pairs (r_q over q's R candidates, r_d over the queries that\n"
    "have d among theirs).\n"
    "\n"
    "Order: score descending; exact ties by docid ascending (bytewise, as strcmp).\n"
    "trec_eval and `score` re-sort a run by score with ties by docid DESCENDING, so\n"
    "they evaluate tied documents in the opposite order of our rank column; --ties\n"
    "desc breaks ties their way. TREC scores are printed with the fewest digits that\n"
    "read back as the same double, so ties and non-ties survive the text format.\n"
    "\n"
    "Documents: the file is memory-mapped, not copied (every record is validated\n"
    "once, CRCs included, as it is indexed). A zstd-compressed file is decompressed\n"
    "once into a cache file: `otclir-KEY.rank-cache` in --cache-dir if given, else\n"
    "`.NAME.KEY.rank-cache` beside it, else (directory not writable) in $TMPDIR;\n"
    "later runs reuse it until the file changes. The cache is built record by\n"
    "record: header, schema and every frame are validated before they are\n"
    "written, and a file that expands to more than 256 times its size (+ 1 MiB) is\n"
    "refused as a decompression bomb (decompress such a file yourself with\n"
    "`rec cat`); a failed build, or a cache found damaged, leaves nothing behind,\n"
    "and temporaries of builds that were killed (unlocked, older than 10 s) are\n"
    "removed by the next run. If DOCS is truncated or changed in place while rank\n"
    "runs, rank stops with an error naming it and exit status 1 (a run stream is\n"
    "then left without its end frame) instead of crashing on the vanished pages.\n"
    "Queries are ranked in batches\n"
    "(--batch-size), which bound the remaining memory. Document ids must be unique.\n"
    "Documents (queries) without tokens after skipping are never retrieved (get no\n"
    "hits); rank says how many on stderr.\n"
    "\n"
    "Cosine (--sim cos, and --mode ot's cost) is undefined for a zero vector: a\n"
    "zero token vector that is used (not skipped), pooled vector or mean is an\n"
    "error naming the input, record and token (with --sim dot it scores 0).\n"
    "Vectors have at most 65536 dimensions.\n"
    "\n"
    "Queries and documents must come from the same encoder: a different d, or a\n"
    "different value of the stream metadata model, layer, vocab, special_ids or\n"
    "(dense with pooled vectors) pooling is refused; set on one side only counts\n"
    "as different. --allow-model-mismatch lifts all but the d check.\n"
    "\n"
    "Sharded search (--merge): split the documents into disjoint shards (e.g.\n"
    "`rec split -n N docs.rec shard`), rank the same queries against each shard with\n"
    "the same options (on one machine or several: `parallel --sshlogin`), then\n"
    "  rank --merge [-k N] [--trec] [--tag T] RUN... < QUERIES\n"
    "merges the shards' `run` streams into exactly the run of the unsplit search\n"
    "(byte for byte): a score does not depend on which documents share a search,\n"
    "hits are totally ordered (score, then docid), and each shard kept its -k\n"
    "best. QUERIES (any stream with an `id` field, e.g. the shards' query input)\n"
    "gives the order of the queries. -k defaults to the shards' (it may not\n"
    "exceed a shard's); the mode, tie order and tag come from the runs' metadata\n"
    "(rank_mode, rank_k, rank_ties, runid). Refused, with the reason: runs of\n"
    "--csls (r_q needs each query's K best over ALL documents), ot (it reranks\n"
    "the best candidates of the whole collection) and bm25 (idf and avgdl are\n"
    "statistics of the whole collection); a document in two shards.\n"
    "\n"
    "Options:\n"
    "  --docs FILE           the document `vectors` stream (required)\n"
    "  --mode M              dense (default), maxsim, maxsim-sym, ot or bm25\n"
    "  --sim cos|dot         cosine (default: every vector normalised) or dot product\n"
    "  --maxsim-mean         maxsim: average over query tokens instead of the sum\n"
    "  --pool vec|mean       dense: the pooled `vec` when present (default), or the\n"
    "                        mean of the token vectors always\n"
    "  --csls K              hubness correction with K neighbours (default off)\n"
    "  -k, --top N           documents per query (default 100; 0 = all)\n"
    "  --skip-special        leave out the tokens listed in each stream's `special_ids`\n"
    "                        metadata (e.g. [CLS] and [SEP]); an error if it is absent\n"
    "  --skip-ids LIST       leave out these token ids on both sides, e.g. 101,102\n"
    "                        (mBERT's [CLS],[SEP]). Default: every token is used.\n"
    "                        Where [CLS]/[SEP] get the same vector in every text (a\n"
    "                        0-layer encoder), they add a constant 2/m to maxsim-sym's\n"
    "                        document side, which favours short documents: skip them.\n"
    "  --ties asc|desc       order of exact ties by docid (default asc)\n"
    "  --ot-base M           ot: first-stage mode (default maxsim-sym)\n"
    "  --ot-candidates R     ot: documents reranked per query (default 100)\n"
    "  --ot-eps E            ot: entropic regularisation (default 0.05)\n"
    "  --ot-iters N          ot: Sinkhorn iteration cap (default 1000; --ot-iter: old name)\n"
    "  --ot-tol T            ot: stop at this L1 marginal error (default 1e-6)\n"
    "  --k1 X                bm25, soft-bm25: term-frequency saturation (default 0.9)\n"
    "  --b X                 bm25: length normalisation in [0, 1] (default 0.4)\n"
    "  --match-threshold T   soft-bm25: the cosine below which tokens do not match\n"
    "                        (default 0.5)\n"
    "  --trec                write a TREC run (text) instead of `run` records\n"
    "  --tag T               run name: the TREC tag column, or the `runid` metadata\n"
    "                        of the run stream (default otclir-MODE)\n"
    "  --allow-model-mismatch  compare streams whose model metadata differ (d must\n"
    "                        still agree), e.g. student queries against teacher docs\n"
    "  --batch-size N        queries per batch (default 4096; --batch: old name)\n"
    "  --block-rows N        document token rows per matrix product (default 2048);\n"
    "                        only speed and memory depend on it (not the scores)\n"
    "  --cache-dir DIR       where to put the decompressed cache of a zstd file\n"
    "  --threads N           threads (default 0: all cores); output identical for any N\n"
    "  --progress            progress on stderr even when it is not a terminal\n"
    "  --merge               merge the run streams given as operands (see above)\n"
    "  --help, --version\n"
    "\n"
    "Examples:\n"
    "  tokenize --model M < docs.tsv | embed --model M --zstd > docs.rec.zst\n"
    "  tokenize --model M < queries.tsv | embed --model M |\n"
    "      rank --docs docs.rec.zst --mode maxsim-sym --csls 10 --skip-special --trec > run.txt\n"
    "  score --qrels qrels.txt run.txt\n"
    "  tokenize --vocab vocab.txt --lower < docs.tsv > docs.tok\n"
    "  tokenize --vocab vocab.txt --lower < queries.tsv | rank --docs docs.tok --mode bm25 -k 1000 --trec\n"
    "  rank --docs docs.rec --mode ot --ot-base dense --ot-candidates 50 -k 10 < q.rec | rec dump\n"
    "  rec split -n 4 docs.rec shard\n"
    "  parallel 'rank --docs {} --mode maxsim < q.rec > {.}.run' ::: shard-00*.rec\n"
    "  rank --merge shard-00*.run < q.rec > run.rec\n"
    "\n"
    "Exit status: 0 on success, 1 on an error (bad or truncated input, metadata\n"
    "mismatch, duplicate document id), 2 on bad usage.\n";

static const cli_prog prog = {"rank", usage, manual};

enum {
  OPT_DOCS = 256, OPT_MODE, OPT_SIM, OPT_MAXSIM_MEAN, OPT_POOL, OPT_CSLS, OPT_SKIP_SPECIAL, OPT_SKIP_IDS, OPT_TIES,
  OPT_OT_BASE, OPT_OT_CAND, OPT_OT_EPS, OPT_OT_ITERS, OPT_OT_ITER_OLD, OPT_OT_TOL, OPT_K1, OPT_B, OPT_TAU, OPT_TREC, OPT_TAG,
  OPT_ALLOW, OPT_BATCH, OPT_BATCH_OLD, OPT_BLOCK, OPT_CACHE, OPT_THREADS, OPT_PROGRESS, OPT_MERGE
};
static const struct option longopts[] = {
    {"docs", required_argument, 0, OPT_DOCS},          {"mode", required_argument, 0, OPT_MODE},
    {"sim", required_argument, 0, OPT_SIM},            {"maxsim-mean", no_argument, 0, OPT_MAXSIM_MEAN},
    {"pool", required_argument, 0, OPT_POOL},          {"csls", required_argument, 0, OPT_CSLS},
    {"top", required_argument, 0, 'k'},                {"skip-special", no_argument, 0, OPT_SKIP_SPECIAL},
    {"skip-ids", required_argument, 0, OPT_SKIP_IDS},  {"ties", required_argument, 0, OPT_TIES},
    {"ot-base", required_argument, 0, OPT_OT_BASE},    {"ot-candidates", required_argument, 0, OPT_OT_CAND},
    {"ot-eps", required_argument, 0, OPT_OT_EPS},      {"ot-iters", required_argument, 0, OPT_OT_ITERS},
    {"ot-iter", required_argument, 0, OPT_OT_ITER_OLD}, {"ot-tol", required_argument, 0, OPT_OT_TOL},
    {"k1", required_argument, 0, OPT_K1},              {"b", required_argument, 0, OPT_B},
    {"match-threshold", required_argument, 0, OPT_TAU},
    {"trec", no_argument, 0, OPT_TREC},                {"tag", required_argument, 0, OPT_TAG},
    {"allow-model-mismatch", no_argument, 0, OPT_ALLOW}, {"batch-size", required_argument, 0, OPT_BATCH},
    {"batch", required_argument, 0, OPT_BATCH_OLD},
    {"block-rows", required_argument, 0, OPT_BLOCK},   {"cache-dir", required_argument, 0, OPT_CACHE},
    {"threads", required_argument, 0, OPT_THREADS},    {"progress", no_argument, 0, OPT_PROGRESS},
    {"merge", no_argument, 0, OPT_MERGE},              CLI_OPTIONS_COMMON,
    {0, 0, 0, 0}};

static const char *const modes[] = {"dense", "maxsim", "maxsim-sym", "ot", "bm25", "soft-bm25", NULL};
static const char *const sims[] = {"cos", "dot", NULL}, *const pools[] = {"vec", "mean", NULL};
static const char *const ties[] = {"asc", "desc", NULL}, *const bases[] = {"dense", "maxsim", "maxsim-sym", NULL};

static void progress(void *ctx, uint64_t done) { progress_update(ctx, done, 0); }

int main(int argc, char **argv) {
  cli_init(&prog, argv[0]);
  rank_run_opts ro = {0};
  rank_opts *o = &ro.search;
  rank_opts_default(o);
  const char *docs_path = NULL, *tag = NULL, *cache_dir = NULL;
  uint32_t *skip = NULL;
  bool trec = false, merge = false, show_progress = false, bm25_opt = false, tau_opt = false, k_given = false, ties_given = false;
  int c;
  while ((c = getopt_long(argc, argv, "k:", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_DOCS: docs_path = optarg; break;
    case OPT_MODE: o->mode = (rank_mode)cli_choice("--mode", optarg, modes); break;
    case OPT_SIM: o->sim = cli_choice("--sim", optarg, sims) ? RANK_DOT : RANK_COS; break;
    case OPT_MAXSIM_MEAN: o->maxsim_mean = true; break;
    case OPT_POOL: o->pool_mean = cli_choice("--pool", optarg, pools) == 1; break;
    case OPT_CSLS: o->csls_k = (int)parse_long("--csls", optarg, 1, 1000000); break;
    case 'k': o->k = (size_t)parse_long("-k", optarg, 0, 1L << 40), k_given = true; break;
    case OPT_SKIP_SPECIAL: ro.skip_special = true; break;
    case OPT_SKIP_IDS:
      if (rank_parse_ids(optarg, &skip, &ro.nskip) != 0) cli_usage_error("--skip-ids: expected ids like 101,102, got '%s'", optarg);
      ro.skip_ids = skip;
      break;
    case OPT_TIES: o->tie_desc = cli_choice("--ties", optarg, ties) == 1, ties_given = true; break;
    case OPT_OT_BASE: o->ot_base = (rank_mode)cli_choice("--ot-base", optarg, bases); break;
    case OPT_OT_CAND: o->ot_candidates = (size_t)parse_long("--ot-candidates", optarg, 1, 1L << 30); break;
    case OPT_OT_EPS: o->ot_eps = parse_double("--ot-eps", optarg, 1e-6, 1e6); break;
    case OPT_OT_ITER_OLD: cli_renamed("--ot-iter", "--ot-iters"); /* fall through */
    case OPT_OT_ITERS: o->ot_max_iter = (int)parse_long("--ot-iters", optarg, 1, 100000000); break;
    case OPT_OT_TOL: o->ot_tol = parse_double("--ot-tol", optarg, 1e-300, 1e6); break;
    case OPT_K1: o->bm25_k1 = parse_double("--k1", optarg, 0, 1e6), bm25_opt = true; break;
    case OPT_B: o->bm25_b = parse_double("--b", optarg, 0, 1), bm25_opt = true; break;
    case OPT_TAU: o->soft_tau = parse_double("--match-threshold", optarg, 0, 0.999999), tau_opt = true; break;
    case OPT_TREC: trec = true; break;
    case OPT_TAG: tag = optarg; break;
    case OPT_ALLOW: ro.allow_model_mismatch = true; break;
    case OPT_BATCH_OLD: cli_renamed("--batch", "--batch-size"); /* fall through */
    case OPT_BATCH: o->batch = (size_t)parse_long("--batch-size", optarg, 1, 1L << 30); break;
    case OPT_BLOCK: o->block_rows = (size_t)parse_long("--block-rows", optarg, 1, 1L << 24); break;
    case OPT_CACHE: cache_dir = optarg; break;
    case OPT_THREADS: cli_threads("--threads", optarg); break;
    case OPT_PROGRESS: show_progress = true; break;
    case OPT_MERGE: merge = true; break;
    CLI_CASES_COMMON;
    }
  }
  if (merge && (docs_path || ties_given))
    cli_usage_error("--merge takes run files, not --docs%s", ties_given ? "; the tie order comes from the runs" : "");
  if (!merge && optind < argc)
    cli_usage_error("unexpected operand '%s' (queries come on stdin; documents with --docs FILE)", argv[optind]);
  if (!merge && !docs_path) cli_usage_error("--docs FILE is required");
  if (ro.skip_special && skip) cli_usage_error("--skip-special and --skip-ids exclude each other");
  if (tag && (!*tag || strpbrk(tag, " \t\r\n"))) cli_usage_error("--tag: a TREC tag is one word, got '%s'", tag);
  bool any_bm25 = o->mode == RANK_BM25 || o->mode == RANK_SOFT_BM25;
  if (bm25_opt && !any_bm25) cli_usage_error("--k1 and --b apply to --mode bm25 and soft-bm25 only");
  if (tau_opt && o->mode != RANK_SOFT_BM25) cli_usage_error("--match-threshold applies to --mode soft-bm25 only");
  if (any_bm25 && o->csls_k) cli_usage_error("--csls with --mode %s: %s", rank_mode_name(o->mode), rank_bm25_csls_reason);
  kern_set_threads(otc_threads());
  o->threads = otc_threads();

  char err[1024];
  rank_docs *docs = NULL; /* mapped (and checked) before stdin is read */
  if (!merge && !(docs = rank_docs_open(docs_path, o->mode == RANK_BM25 ? "tokens" : "vectors", cache_dir, err,
                                        sizeof err)))
    die("%s", err);
  rec_reader *queries = rec_open_or_die("-");
  rank_out *out = rank_out_new(trec, tag, xfwrite_stdout, "-");
  otc_progress pr;
  progress_init(&pr, "queries", show_progress);
  ro.progress = progress, ro.progress_ctx = &pr;
  rank_run_stats st;
  int rc = merge ? rank_merge((const char *const *)argv + optind, (size_t)(argc - optind), queries,
                              k_given ? o->k : 0, out, &st, err, sizeof err)
                 : rank_run(docs, queries, &ro, out, &st, err, sizeof err);
  rank_docs_close(docs);
  if (rc != 0 && rank_out_errno(out) == EPIPE) return OTC_EXIT_OK; /* the reader stopped: not our error */
  if (rc != 0) die("%s", err);
  progress_end(&pr, st.queries);
  if (st.empty_docs)
    warnx_("%s: %zu of %zu documents have no tokens to compare (after skipping): they were never retrieved", docs_path,
           st.empty_docs, st.docs);
  if (st.empty_queries)
    warnx_("%llu of %llu queries got no hits (no tokens to compare after skipping, or no documents)",
           (unsigned long long)st.empty_queries, (unsigned long long)st.queries);
  if (rank_out_close(out, err, sizeof err) != 0) {
    if (rec_writer_errno(NULL) == EPIPE) return OTC_EXIT_OK;
    die("%s", err);
  }
  otc_close_stdout();
  rec_close(queries);
  free(skip);
  return 0;
}
