/*
 * ot-align: entropic optimal transport plans and word alignments between the token vectors of pairs
 *
 * The program: options and the summary. Reading the pairs, the batches of
 * Sinkhorn problems and the plan records are lib/train/align.c; the solver
 * lib/ot/ot.c; hard alignments lib/ot/align.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"
#include "ot/ot.h"
#include "stream/rec.h"
#include "train/align.h"

static const char usage[] =
    "usage: ot-align [--ot-eps X] [--ot-tol X] [--ot-iters N] [--plan] [--align [--threshold T]] [--text]\n"
    "                [--skip-ends] [--skip-special] [--skip-ids LIST] [--cost cosine|sqeuclid] [--threads N] [FILE]\n";

static const char manual[] =
    "ot-align: entropic optimal transport plans and word alignments between the token vectors of pairs\n"
    "\n"
    "usage: ot-align [OPTIONS] [FILE]\n"
    "\n"
    "Reads a stream of `pair` records (FILE, or stdin when FILE is absent or \"-\") that carry\n"
    "src_vecs (n x d) and tgt_vecs (m x d), as written by `embed`. For each pair it solves\n"
    "\n"
    "    min_P <P, C> - eps H(P)   subject to  P 1 = a,  P^T 1 = b\n"
    "\n"
    "with C_ij = 1 - cos(src_i, tgt_j) and uniform marginals a, b over the tokens that take part\n"
    "(log-domain Sinkhorn, the problem of POT's ot.sinkhorn), and writes one `plan` record:\n"
    "\n"
    "    id     the pair's id\n"
    "    cost   <P, C>, the transport cost of the entropic plan (no entropy term)\n"
    "    iters  Sinkhorn iterations (one = a column and a row update)\n"
    "    err    L1 error of both marginals of the returned plan; err >= --ot-tol means the\n"
    "           iterations stopped at --ot-iters without converging\n"
    "    plan   (with --plan) the n x m plan, f32, row i = source token i\n"
    "    align  (with --align) alignment pairs (i, j), k x 2 u32, by source token\n"
    "\n"
    "Sizes: a pair of n x m tokens with n * m above 16,777,216 (OT_MAX_CELLS, e.g. 4096 x 4096)\n"
    "is refused, naming the record, before its plan is allocated; records are solved in\n"
    "batches of at most 128 records and 2^24 plan entries.\n"
    "\n"
    "Token indices always refer to the positions in src_ids/tgt_ids, also when some tokens\n"
    "are left out (--skip-ends, --skip-special): those get zero plan rows/columns and no\n"
    "alignment pair.\n"
    "\n"
    "Options:\n"
    "  --ot-eps X        entropic regularisation, > 0, in cost units (default 0.05)\n"
    "  --ot-tol X        stop when the L1 marginal error is below X (default 1e-6)\n"
    "  --ot-iters N      at most N iterations per pair (default 1000)\n"
    "  --ot-eps-scaling X  start at eps X and halve it down to --ot-eps (off by default); helps\n"
    "                    small eps (e.g. 0.005) converge in fewer iterations\n"
    "  --ot-newton N     after N Sinkhorn iterations without convergence, Newton steps on the\n"
    "                    dual (quadratic convergence; each counts as an iteration); 0 = off,\n"
    "                    the default: the iterates are POT's\n"
    "  --cost KIND       cosine (default: 1 - cos) or sqeuclid (|s - t|^2)\n"
    "  --plan            add the plan matrix to each record\n"
    "  --align           add hard alignments: for each source token i, the target token j with\n"
    "                    the largest P_ij (argmax per row; ties: the smallest j)\n"
    "  --threshold T     with --align or --text: instead of the argmax, every pair (i, j) whose\n"
    "                    share of source token i's mass exceeds T, i.e. P_ij / sum_j' P_ij' > T\n"
    "                    (0 < T < 1; T = 0.5 gives at most one j per i, smaller T many-to-many)\n"
    "  --text            print the alignments as text instead of records: one line per pair in\n"
    "                    input order, `i-j` pairs separated by spaces (the Pharaoh format that\n"
    "                    fast_align and alignment scorers read; 0-based, source first)\n"
    "  --skip-ends       leave the first and last token of each side ([CLS] and [SEP]) out\n"
    "  --skip-special    leave out tokens whose id is in the stream metadata src_special_ids\n"
    "                    (source side) / tgt_special_ids (target side), or special_ids for both\n"
    "                    (comma-separated, written by `tokenize`; an error if absent)\n"
    "  --skip-ids LIST   leave out tokens with these ids on both sides (e.g. 0,101,102)\n"
    "  --allow-model-mismatch\n"
    "                    accept a stream whose metadata names different models (or layers) for\n"
    "                    the two sides (src_model vs tgt_model, src_layer vs tgt_layer)\n"
    "  --threads N       solver threads (default: all cores); the output does not depend on N\n"
    "  --progress        report progress on stderr even when it is not a terminal\n"
    "  --help, --version\n"
    "\n"
    "Old names (accepted with a warning until otclir 0.3; docs/options.md): --eps, --tol,\n"
    "--max-iter, --eps-scaling are --ot-eps, --ot-tol, --ot-iters, --ot-eps-scaling.\n"
    "\n"
    "Non-convergence is never silent: `err` carries the error and one warning on stderr gives\n"
    "the number of pairs that did not converge and the first ids.\n"
    "\n"
    "Examples:\n"
    "  tokenize --pair ... | embed --side src ... | embed --side tgt ... | ot-align --align > plans.rec\n"
    "  ot-align --text --skip-ends --threshold 0.3 pairs.rec > alignments.txt\n"
    "  ot-align --ot-eps 0.1 --plan pairs.rec | rec cat\n"
    "\n"
    "Exit status: 0 on success (also when some pairs did not converge), 1 on an error\n"
    "(unreadable or truncated input, a pair without vectors, NaN/Inf, an empty token set;\n"
    "the message names the record), 2 on bad usage.\n";

static const cli_prog prog = {"ot-align", usage, manual};

enum {
  O_EPS = 256, O_TOL, O_MAXIT, O_SCALING, O_NEWTON, O_COST, O_PLAN, O_ALIGN, O_THRESH, O_TEXT, O_ENDS, O_SPECIAL,
  O_MISMATCH, O_SKIPIDS, O_THREADS, O_PROGRESS, O_OLD_EPS, O_OLD_TOL, O_OLD_MAXIT, O_OLD_SCALING
};

static const struct option longopts[] = {
    {"ot-eps", required_argument, 0, O_EPS},            {"ot-tol", required_argument, 0, O_TOL},
    {"ot-iters", required_argument, 0, O_MAXIT},        {"ot-eps-scaling", required_argument, 0, O_SCALING},
    {"ot-newton", required_argument, 0, O_NEWTON},      {"cost", required_argument, 0, O_COST},
    {"plan", no_argument, 0, O_PLAN},                   {"align", no_argument, 0, O_ALIGN},
    {"threshold", required_argument, 0, O_THRESH},      {"text", no_argument, 0, O_TEXT},
    {"skip-ends", no_argument, 0, O_ENDS},              {"skip-special", no_argument, 0, O_SPECIAL},
    {"allow-model-mismatch", no_argument, 0, O_MISMATCH}, {"skip-ids", required_argument, 0, O_SKIPIDS},
    {"threads", required_argument, 0, O_THREADS},       {"progress", no_argument, 0, O_PROGRESS},
    {"eps", required_argument, 0, O_OLD_EPS},           {"tol", required_argument, 0, O_OLD_TOL},
    {"max-iter", required_argument, 0, O_OLD_MAXIT},    {"eps-scaling", required_argument, 0, O_OLD_SCALING},
    CLI_OPTIONS_COMMON,                                 {0, 0, 0, 0}};

static void emit_line(void *ctx, const char *line, size_t len) { xfwrite_stdout(line, len); }
static void on_progress(void *ctx, uint64_t done) { progress_update(ctx, done, 0); }

int main(int argc, char **argv) {
  cli_init(&prog, argv[0]);
  static const char *const costs[] = {"cosine", "sqeuclid", NULL};
  align_opts o;
  memset(&o, 0, sizeof o);
  ot_options_default(&o.ot);
  o.cost_name = "cosine";
  int progress = 0, opt;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (opt) {
    case O_OLD_EPS: cli_renamed("--eps", "--ot-eps"); /* fall through */
    case O_EPS: o.ot.eps = parse_double("--ot-eps", optarg, 1e-300, 1e300); break;
    case O_OLD_TOL: cli_renamed("--tol", "--ot-tol"); /* fall through */
    case O_TOL: o.ot.tol = parse_double("--ot-tol", optarg, 0, 1e300); break;
    case O_OLD_MAXIT: cli_renamed("--max-iter", "--ot-iters"); /* fall through */
    case O_MAXIT: o.ot.max_iter = (int)parse_long("--ot-iters", optarg, 1, 1000000000); break;
    case O_OLD_SCALING: cli_renamed("--eps-scaling", "--ot-eps-scaling"); /* fall through */
    case O_SCALING: o.ot.eps_start = parse_double("--ot-eps-scaling", optarg, 1e-300, 1e300); break;
    case O_NEWTON: o.ot.newton = (int)parse_long("--ot-newton", optarg, 0, 1000000000); break;
    case O_COST:
      o.ot.cost = cli_choice("--cost", optarg, costs) ? OT_COST_SQEUCLID : OT_COST_COSINE;
      o.cost_name = costs[o.ot.cost == OT_COST_SQEUCLID];
      break;
    case O_PLAN: o.want_plan = true; break;
    case O_ALIGN: o.want_align = true; break;
    case O_THRESH: o.threshold = parse_double("--threshold", optarg, 1e-12, 1 - 1e-12); break;
    case O_TEXT: o.text = true; break;
    case O_ENDS: o.skip_ends = true; break;
    case O_SPECIAL: o.skip_special = true; break;
    case O_MISMATCH: o.allow_mismatch = true; break;
    case O_SKIPIDS:
      if (!align_ids_valid(optarg)) cli_usage_error("--skip-ids: '%s' is not a comma-separated list of ids", optarg);
      o.skip_ids = optarg;
      break;
    case O_THREADS: cli_threads("--threads", optarg); break;
    case O_PROGRESS: progress = 1; break;
    CLI_CASES_COMMON;
    }
  }
  if (argc - optind > 1) cli_usage_error("unexpected operand '%s' (at most one input FILE)", argv[optind + 1]);
  if (o.threshold > 0 && !o.want_align && !o.text) o.want_align = true;
  const char *path = optind < argc ? argv[optind] : "-";
  kern_set_threads(otc_threads());
  o.ot.threads = otc_threads();

  rec_reader *in = rec_open_expect(path, "pair");
  rec_reader_allow_nonfinite(in, true); /* reported by the solver with the token's place */
  char err[2048];
  align_job *j = align_open(&o, in, path, "-", err, sizeof err);
  if (!j) die("%s", err);
  otc_progress pr;
  progress_init(&pr, "pairs", progress);
  if (align_run(j, emit_line, on_progress, &pr, err, sizeof err) != 0) {
    if (align_write_errno(j) == EPIPE) return OTC_EXIT_OK; /* the reader stopped: not our error */
    die("%s", err);
  }
  const align_summary *s = align_job_summary(j);
  progress_end(&pr, s->pairs);
  rec_close(in);
  if (o.text) otc_close_stdout();
  if (s->nonconverged) {
    char ids[512] = "";
    size_t len = 0;
    for (uint64_t q = 0; q < s->nonconverged && q < ALIGN_REPORTED_IDS; q++) {
      int w = snprintf(ids + len, sizeof ids - len, "%s'%s'", q ? ", " : "", s->first_ids[q]);
      if (w < 0 || (size_t)w >= sizeof ids - len) break;
      len += (size_t)w;
    }
    warnx_("warning: %" PRIu64 " of %" PRIu64 " pairs did not converge within %d iterations (err >= tol %g; "
           "raise --ot-iters, --ot-eps or use --ot-newton): %s%s",
           s->nonconverged, s->pairs, o.ot.max_iter, o.ot.tol, ids, s->nonconverged > ALIGN_REPORTED_IDS ? ", ..." : "");
  }
  align_free(j);
  return 0;
}
