/*
 * rank: exact dense, late-interaction (MaxSim) and OT retrieval of query vectors against a document collection
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/rank.h"
#include "search/softbm25.h"
#include "stream/rec.h"
#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"

static const char usage[] =
    "Usage: rank --docs FILE [--mode dense|maxsim|maxsim-sym|ot] [--sim cos|dot] [--csls K]\n"
    "            [-k N] [--skip-special | --skip-ids LIST] [--trec [--tag T]] [--threads N] < QUERIES\n";

static const char manual[] =
    "rank: search a document collection with query vectors, exactly.\n"
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
    "The search is exact: float32 matrix products (OpenBLAS sgemm) of every query\n"
    "token against every document token, reduced in double.\n"
    "\n"
    "Hubness correction (--csls K, any mode): score = 2 s(q,d) - r_q - r_d, with r_q\n"
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
    "later runs reuse it until the file changes. Queries are ranked in batches\n"
    "(--batch), which bound the remaining memory. Document ids must be unique.\n"
    "Documents (queries) without tokens after skipping are never retrieved (get no\n"
    "hits); rank says how many on stderr.\n"
    "\n"
    "Queries and documents must come from the same encoder: a different d, or a\n"
    "different value of the stream metadata model, layer, vocab, special_ids or\n"
    "(dense with pooled vectors) pooling is refused; set on one side only counts\n"
    "as different. --allow-model-mismatch lifts all but the d check.\n"
    "\n"
    "Options:\n"
    "  --docs FILE           the document `vectors` stream (required)\n"
    "  --mode M              dense (default), maxsim, maxsim-sym or ot\n"
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
    "  --ot-iter N           ot: Sinkhorn iteration cap (default 1000)\n"
    "  --ot-tol T            ot: stop at this L1 marginal error (default 1e-6)\n"
    "  --trec                write a TREC run (text) instead of `run` records\n"
    "  --tag T               run name: the TREC tag column, or the `runid` metadata\n"
    "                        of the run stream (default otclir-MODE)\n"
    "  --allow-model-mismatch  compare streams whose model metadata differ (d must\n"
    "                        still agree), e.g. student queries against teacher docs\n"
    "  --batch N             queries per batch (default 4096)\n"
    "  --block-rows N        document token rows per matrix product (default 2048);\n"
    "                        only speed, memory and float rounding depend on it\n"
    "  --cache-dir DIR       where to put the decompressed cache of a zstd file\n"
    "  --threads N           threads (default: all cores); output identical for any N\n"
    "  --progress            progress on stderr even when it is not a terminal\n"
    "  --help, --version\n"
    "\n"
    "Examples:\n"
    "  tokenize --model M < docs.tsv | embed --model M --zstd > docs.rec.zst\n"
    "  tokenize --model M < queries.tsv | embed --model M |\n"
    "      rank --docs docs.rec.zst --mode maxsim-sym --csls 10 --skip-special --trec > run.txt\n"
    "  score --qrels qrels.txt run.txt\n"
    "  rank --docs docs.rec --mode ot --ot-base dense --ot-candidates 50 -k 10 < q.rec | rec dump\n"
    "\n"
    "Exit status: 0 on success, 1 on an error (bad or truncated input, metadata\n"
    "mismatch, duplicate document id), 2 on bad usage.\n";

typedef struct {
  rank_item *items;
  size_t n, cap;
} query_set;

typedef struct {
  const rank_docs *docs;
  const query_set *qs;
  rec_writer *w;
  int f_qid, f_docid, f_rank, f_score;
  int trec;
  const char *tag;
  size_t taglen;
  char *line;                 /* one TREC line */
  size_t linecap;
  size_t empty_queries;
  uint64_t written;
} emit_ctx;

static void emit(void *ctx, size_t q, const rank_hit *hits, size_t nhits) {
  emit_ctx *e = ctx;
  const rank_item *qi = &e->qs->items[q];
  if (!nhits) e->empty_queries++;
  for (size_t i = 0; i < nhits; i++) {
    const rank_item *d = &e->docs->items[hits[i].doc];
    if (e->trec) {
      char num[80];
      size_t need = qi->idlen + d->idlen + e->taglen + sizeof num + 8;
      if (need > e->linecap) e->line = xrealloc(e->line, e->linecap = 2 * need);
      char *p = e->line;
      memcpy(p, qi->id, qi->idlen), p += qi->idlen;
      memcpy(p, " Q0 ", 4), p += 4;
      memcpy(p, d->id, d->idlen), p += d->idlen;
      int len = snprintf(num, 40, " %zu ", i + 1);
      fmt_double(num + len, sizeof num - (size_t)len, hits[i].score);
      len += (int)strlen(num + len);
      memcpy(p, num, (size_t)len), p += len;
      *p++ = ' ';
      memcpy(p, e->tag, e->taglen), p += e->taglen;
      *p++ = '\n';
      xfwrite_stdout(e->line, (size_t)(p - e->line));
    } else {
      rec_put_str(e->w, e->f_qid, qi->id, qi->idlen);
      rec_put_str(e->w, e->f_docid, d->id, d->idlen);
      rec_put_u32_scalar(e->w, e->f_rank, (uint32_t)(i + 1));
      rec_put_f64_scalar(e->w, e->f_score, hits[i].score);
      rec_write_or_die(e->w);
    }
    e->written++;
  }
}

static void free_queries(query_set *qs) {
  for (size_t i = 0; i < qs->n; i++) {
    free((void *)qs->items[i].id);
    free((void *)qs->items[i].ids);
    free((void *)qs->items[i].vecs);
    free((void *)qs->items[i].vec);
  }
  qs->n = 0;
}

static void *dup_mem(const void *p, size_t n) {
  void *q = xmalloc(n);
  if (n) memcpy(q, p, n);
  return q;
}

/* Read up to max queries (0 = all); false at the end of the input. */
static bool read_queries(rec_reader *r, query_set *qs, size_t max, int f[4], size_t d) {
  rec_record rec;
  while (!max || qs->n < max) {
    if (!rec_read_or_die(r, &rec)) return qs->n > 0;
    if (qs->n == qs->cap) qs->items = xrealloc(qs->items, (qs->cap = qs->cap ? 2 * qs->cap : 256) * sizeof *qs->items);
    rank_item *it = &qs->items[qs->n++];
    size_t idlen, n, nv;
    const char *id = rec_str(&rec, f[0], &idlen);
    char *idc = xmalloc(idlen + 1);
    memcpy(idc, id, idlen);
    idc[idlen] = 0;
    it->id = idc;
    it->idlen = idlen;
    const uint32_t *ids = rec_u32(&rec, f[1], &n);
    const float *vecs = rec_f32(&rec, f[2], &nv);
    if (rec.v[f[2]].shape[1] != d)
      die("stdin: query record %llu ('%s'): d = %u, documents have d = %zu", (unsigned long long)rec.index, idc,
          rec.v[f[2]].shape[1], d);
    it->n = (uint32_t)n;
    it->ids = dup_mem(ids, n * sizeof *ids);
    it->vecs = dup_mem(vecs, nv * sizeof *vecs);
    it->vec = rec_has(&rec, f[3]) ? dup_mem(rec_f32(&rec, f[3], NULL), d * sizeof(float)) : NULL;
  }
  return true;
}

static bool has_space(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') return true;
  return n == 0;
}

static void special_ids(const rec_schema *s, const char *what, uint32_t **ids, size_t *n) {
  const char *v = rec_meta_get(s, "special_ids");
  if (!v)
    die("--skip-special: the %s stream has no 'special_ids' metadata; give the ids with --skip-ids "
        "(mBERT: --skip-ids 101,102)",
        what);
  if (rank_parse_ids(v, ids, n) != 0) die("the %s stream's 'special_ids' metadata '%s' is not a list of ids", what, v);
}

enum {
  OPT_DOCS = 256, OPT_MODE, OPT_SIM, OPT_MAXSIM_MEAN, OPT_POOL, OPT_CSLS, OPT_SKIP_SPECIAL, OPT_SKIP_IDS,
  OPT_TIES, OPT_OT_BASE, OPT_OT_CAND, OPT_OT_EPS, OPT_OT_ITER, OPT_OT_TOL, OPT_TREC, OPT_TAG, OPT_ALLOW,
  OPT_BATCH, OPT_BLOCK, OPT_CACHE, OPT_THREADS, OPT_PROGRESS, OPT_HELP, OPT_VERSION, OPT_K1, OPT_B, OPT_TAU
};

int main(int argc, char **argv) {
  otc_init(argv[0]);
  static const struct option longopts[] = {
      {"docs", required_argument, 0, OPT_DOCS},         {"mode", required_argument, 0, OPT_MODE},
      {"sim", required_argument, 0, OPT_SIM},           {"maxsim-mean", no_argument, 0, OPT_MAXSIM_MEAN},
      {"pool", required_argument, 0, OPT_POOL},         {"csls", required_argument, 0, OPT_CSLS},
      {"top", required_argument, 0, 'k'},               {"skip-special", no_argument, 0, OPT_SKIP_SPECIAL},
      {"skip-ids", required_argument, 0, OPT_SKIP_IDS}, {"ties", required_argument, 0, OPT_TIES},
      {"ot-base", required_argument, 0, OPT_OT_BASE},   {"ot-candidates", required_argument, 0, OPT_OT_CAND},
      {"ot-eps", required_argument, 0, OPT_OT_EPS},     {"ot-iter", required_argument, 0, OPT_OT_ITER},
      {"ot-tol", required_argument, 0, OPT_OT_TOL},     {"trec", no_argument, 0, OPT_TREC},
      {"tag", required_argument, 0, OPT_TAG},           {"allow-model-mismatch", no_argument, 0, OPT_ALLOW},
      {"batch", required_argument, 0, OPT_BATCH},       {"block-rows", required_argument, 0, OPT_BLOCK},
            {"cache-dir", required_argument, 0, OPT_CACHE},
      {"threads", required_argument, 0, OPT_THREADS},   {"progress", no_argument, 0, OPT_PROGRESS},
      {"k1", required_argument, 0, OPT_K1},             {"b", required_argument, 0, OPT_B},
      {"match-threshold", required_argument, 0, OPT_TAU},
      {"help", no_argument, 0, OPT_HELP},               {"version", no_argument, 0, OPT_VERSION},
      {0, 0, 0, 0}};
  rank_opts o;
  rank_opts_default(&o);
  softbm25_params sp;
  softbm25_params_default(&sp);
  const char *docs_path = NULL, *tag = NULL, *cache_dir = NULL, *skip_list = NULL;
  int skip_special = 0, trec = 0, allow = 0, progress = 0, threads = 0;
  int c;
  while ((c = getopt_long(argc, argv, "k:", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_DOCS: docs_path = optarg; break;
    case OPT_MODE:
      if (rank_mode_parse(optarg, &o.mode) != 0) die_usage("rank: --mode: expected dense, maxsim, maxsim-sym or ot\n");
      break;
    case OPT_SIM:
      if (!strcmp(optarg, "cos")) o.sim = RANK_COS;
      else if (!strcmp(optarg, "dot")) o.sim = RANK_DOT;
      else die_usage("rank: --sim: expected cos or dot\n");
      break;
    case OPT_MAXSIM_MEAN: o.maxsim_mean = true; break;
    case OPT_POOL:
      if (!strcmp(optarg, "mean")) o.pool_mean = true;
      else if (!strcmp(optarg, "vec")) o.pool_mean = false;
      else die_usage("rank: --pool: expected vec or mean\n");
      break;
    case OPT_CSLS: o.csls_k = (int)parse_long("--csls", optarg, 1, 1000000); break;
    case 'k': o.k = (size_t)parse_long("-k", optarg, 0, 1L << 40); break;
    case OPT_SKIP_SPECIAL: skip_special = 1; break;
    case OPT_SKIP_IDS: skip_list = optarg; break;
    case OPT_TIES:
      if (!strcmp(optarg, "asc")) o.tie_desc = false;
      else if (!strcmp(optarg, "desc")) o.tie_desc = true;
      else die_usage("rank: --ties: expected asc or desc\n");
      break;
    case OPT_OT_BASE:
      if (rank_mode_parse(optarg, &o.ot_base) != 0 || o.ot_base == RANK_OT)
        die_usage("rank: --ot-base: expected dense, maxsim or maxsim-sym\n");
      break;
    case OPT_OT_CAND: o.ot_candidates = (size_t)parse_long("--ot-candidates", optarg, 1, 1L << 30); break;
    case OPT_OT_EPS: o.ot_eps = parse_double("--ot-eps", optarg, 1e-6, 1e6); break;
    case OPT_OT_ITER: o.ot_max_iter = (int)parse_long("--ot-iter", optarg, 1, 100000000); break;
    case OPT_OT_TOL: o.ot_tol = parse_double("--ot-tol", optarg, 1e-300, 1e6); break;
    case OPT_TREC: trec = 1; break;
    case OPT_TAG: tag = optarg; break;
    case OPT_ALLOW: allow = 1; break;
    case OPT_BATCH: o.batch = (size_t)parse_long("--batch", optarg, 1, 1L << 30); break;
    case OPT_BLOCK: o.block_rows = (size_t)parse_long("--block-rows", optarg, 1, 1L << 24); break;
    case OPT_CACHE: cache_dir = optarg; break;
    case OPT_THREADS: threads = (int)parse_long("--threads", optarg, 1, 4096); break;
    case OPT_PROGRESS: progress = 1; break;
    case OPT_K1: sp.k1 = parse_double("--k1", optarg, 0, 1e6); break;
    case OPT_B: sp.b = parse_double("--b", optarg, 0, 1); break;
    case OPT_TAU: sp.tau = parse_double("--match-threshold", optarg, 0, 0.999999); break;
    case OPT_HELP:
      fputs(manual, stdout);
      otc_close_stdout();
      return 0;
    case OPT_VERSION: print_version();
    default: die_usage(usage);
    }
  }
  if (optind < argc) die_usage_msg(usage, "unexpected operand '%s' (queries come on stdin; documents with --docs FILE)", argv[optind]);
  if (!docs_path) die_usage("rank: --docs FILE is required\n");
  if (skip_special && skip_list) die_usage("rank: --skip-special and --skip-ids exclude each other\n");
  if (tag && (!*tag || has_space(tag, strlen(tag)))) die_usage("rank: --tag: a TREC tag is one word\n");
  if (o.mode == RANK_SOFT_BM25 && o.csls_k) die_usage("rank: --csls does not apply to --mode soft-bm25 (its scores are not similarities)\n");
  kern_set_threads(threads);
  o.threads = otc_threads();

  char err[1024];
  rank_docs *docs = rank_docs_open(docs_path, cache_dir, err, sizeof err);
  if (!docs) die("%s", err);
  rec_reader *qr = rec_open_expect("-", "vectors");
  const rec_schema *qs_schema = rec_reader_schema(qr);
  int64_t dq = rec_get_dim(qs_schema, "d");
  bool uses_pooled = (o.mode == RANK_DENSE || (o.mode == RANK_OT && o.ot_base == RANK_DENSE)) && !o.pool_mean;
  if (rank_meta_check(qs_schema, dq > 0 ? (size_t)dq : 0, docs->schema, docs->d, allow, uses_pooled, err,
                      sizeof err) != 0)
    die("%s (queries: stdin, documents: %s)", err, docs_path);
  size_t d = docs->d ? docs->d : dq > 0 ? (size_t)dq : 1;

  uint32_t *dskip = NULL, *qskip = NULL;
  size_t ndskip = 0, nqskip = 0;
  if (skip_list) {
    if (rank_parse_ids(skip_list, &dskip, &ndskip) != 0) die_usage("rank: --skip-ids: expected ids like 101,102\n");
  } else if (skip_special) {
    special_ids(docs->schema, "document", &dskip, &ndskip);
    special_ids(qs_schema, "query", &qskip, &nqskip);
  }
  o.skip_ids = dskip, o.nskip = ndskip;
  if (qskip) o.q_skip_ids = qskip, o.nq_skip = nqskip;

  if (trec)
    for (size_t i = 0; i < docs->n; i++)
      if (has_space(docs->items[i].id, docs->items[i].idlen))
        die("%s: document %zu: id '%.*s' is empty or contains white space: not writable as a TREC run", docs_path, i,
            (int)docs->items[i].idlen, docs->items[i].id);

  rank_index *ix = NULL;
  if (o.mode != RANK_SOFT_BM25) {
    ix = rank_index_new(docs->items, docs->n, d, &o, err, sizeof err);
    if (!ix) die("%s: %s", docs_path, err);
  }
  if (ix && rank_index_empty(ix))
    warnx_("%s: %zu of %zu documents have no tokens to compare (after skipping): they are never retrieved", docs_path,
           rank_index_empty(ix), docs->n);

  char deftag[64];
  snprintf(deftag, sizeof deftag, "otclir-%s", rank_mode_name(o.mode));
  emit_ctx e = {docs, NULL, NULL, 0, 0, 0, 0, trec, tag ? tag : deftag, 0, NULL, 0, 0, 0};
  e.taglen = strlen(e.tag);
  rec_schema *run_schema = NULL;
  if (!trec) {
    run_schema = rec_schema_builtin("run");
    if (!run_schema) die("the 'run' schema is not built in");
    char mode[128];
    snprintf(mode, sizeof mode, "%s%s", rank_mode_name(o.mode), o.csls_k ? " csls" : "");
    rec_meta_set(run_schema, "rank_mode", mode);
    rec_meta_set(run_schema, "runid", e.tag); /* what `score` prints as the run's name */
    e.w = rec_writer_or_die("-", run_schema, NULL);
    const rec_schema *ws = rec_writer_schema(e.w);
    e.f_qid = rec_field_index(ws, "qid");
    e.f_docid = rec_field_index(ws, "docid");
    e.f_rank = rec_field_index(ws, "rank");
    e.f_score = rec_field_index(ws, "score");
  }

  int f[4] = {rec_field_index(qs_schema, "id"), rec_field_index(qs_schema, "ids"), rec_field_index(qs_schema, "vecs"),
              rec_field_index(qs_schema, "vec")};
  query_set qs = {0};
  e.qs = &qs;
  otc_progress pr;
  progress_init(&pr, "queries", progress);
  uint64_t done = 0;
  size_t batch = o.batch ? o.batch : 4096;
  /* CSLS needs every query at once (r_d); otherwise one batch at a time. */
  while (read_queries(qr, &qs, o.csls_k ? 0 : batch, f, d)) {
    if (trec)
      for (size_t i = 0; i < qs.n; i++)
        if (has_space(qs.items[i].id, qs.items[i].idlen))
          die("stdin: query %llu: id '%s' is empty or contains white space: not writable as a TREC run",
              (unsigned long long)(done + i), qs.items[i].id);
    if (o.mode == RANK_SOFT_BM25 ? softbm25_search(docs->items, docs->n, qs.items, qs.n, d, &o, &sp, emit, &e, err, sizeof err)
                                 : rank_search(ix, qs.items, qs.n, &o, emit, &e, err, sizeof err))
      die("%s", err);
    done += qs.n;
    progress_update(&pr, done, 0);
    free_queries(&qs);
  }
  progress_end(&pr, done);
  if (e.empty_queries)
    warnx_("%zu of %llu queries got no hits (no tokens to compare after skipping, or no documents)", e.empty_queries,
           (unsigned long long)done);
  if (e.w) rec_writer_close_or_die(e.w);
  otc_close_stdout();
  rec_close(qr);
  if (ix) rank_index_free(ix);
  rank_docs_close(docs);
  rec_schema_free(run_schema);
  free(qs.items), free(dskip), free(qskip), free(e.line);
  return 0;
}
