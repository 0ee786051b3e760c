/*
 * ot-align: entropic optimal transport plans and word alignments between the token vectors of pairs
 *
 * Reads `pair` records carrying src_vecs and tgt_vecs, solves one Sinkhorn
 * problem per record (lib/ot.h) and writes `plan` records, or Pharaoh
 * alignment lines with --text. Records are solved in batches on --threads
 * threads; each problem is solved by one thread, so the output does not
 * depend on the thread count.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot/ot.h"
#include "stream/rec.h"
#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"

#define BATCH 128           /* records solved together (and held in memory) */
#define MAX_REPORTED_IDS 5  /* non-converged record ids named in the summary warning */

static const char usage_text[] =
    "usage: ot-align [--eps X] [--tol X] [--max-iter N] [--plan] [--align [--threshold T]] [--text]\n"
    "                [--skip-ends] [--skip-special] [--skip-ids LIST] [--cost cosine|sqeuclid] [--threads N] [FILE]\n";

static void help(void) {
  printf(
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
      "    err    L1 error of both marginals of the returned plan; err >= --tol means the\n"
      "           iterations stopped at --max-iter without converging\n"
      "    plan   (with --plan) the n x m plan, f32, row i = source token i\n"
      "    align  (with --align) alignment pairs (i, j), k x 2 u32, by source token\n"
      "\n"
      "Token indices always refer to the positions in src_ids/tgt_ids, also when some tokens\n"
      "are left out (--skip-ends, --skip-special): those get zero plan rows/columns and no\n"
      "alignment pair.\n"
      "\n"
      "Options:\n"
      "  --eps X           entropic regularisation, > 0, in cost units (default 0.05)\n"
      "  --tol X           stop when the L1 marginal error is below X (default 1e-6)\n"
      "  --max-iter N      at most N iterations per pair (default 1000)\n"
      "  --eps-scaling X   start at eps X and halve it down to --eps (off by default); helps\n"
      "                    small eps (e.g. 0.005) converge in fewer iterations\n"
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
      "Non-convergence is never silent: `err` carries the error and one warning on stderr gives\n"
      "the number of pairs that did not converge and the first ids.\n"
      "\n"
      "Examples:\n"
      "  tokenize --pair ... | embed --side src ... | embed --side tgt ... | ot-align --align > plans.rec\n"
      "  ot-align --text --skip-ends --threshold 0.3 pairs.rec > alignments.txt\n"
      "  ot-align --eps 0.1 --plan pairs.rec | rec cat\n"
      "\n"
      "Exit status: 0 on success (also when some pairs did not converge), 1 on an error\n"
      "(unreadable or truncated input, a pair without vectors, NaN/Inf, an empty token set;\n"
      "the message names the record), 2 on bad usage.\n");
  otc_close_stdout(); /* a failed write of the manual is an error too */
  exit(0);
}

typedef struct {
  char *id;
  uint64_t index;
  int n, m, d;
  float *S, *T, *plan;
  unsigned char *mask_s, *mask_t;
  size_t cap_s, cap_t, cap_plan, cap_ms, cap_mt;
} slot;

typedef struct {
  bool want_plan, want_align, text, skip_ends, skip_special, allow_mismatch, progress;
  double threshold; /* 0 = argmax */
  const char *skip_ids;   /* --skip-ids LIST, both sides */
  uint32_t *special[2];   /* ids left out, per side */
  size_t nspecial[2];
} config;

static void grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return;
  *p = xrealloc(*p, xmul(need, elem));
  *cap = need;
}

static bool is_special(const config *c, int side, uint32_t id) {
  for (size_t i = 0; i < c->nspecial[side]; i++)
    if (c->special[side][i] == id) return true;
  return false;
}

/* Append a comma-separated id list to side's list (side < 0: only check it).
 * False if s is not such a list. */
static bool parse_ids(config *c, int side, const char *s) {
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || errno || v > UINT32_MAX || *p == '-' || *p == '+' || *p == ' ') return false;
    if (side >= 0) {
      c->special[side] = xrealloc(c->special[side], sizeof(uint32_t) * (c->nspecial[side] + 1));
      c->special[side][c->nspecial[side]++] = (uint32_t)v;
    }
    p = end;
    if (*p == ',' && p[1]) p++;
    else if (*p) return false;
  }
  return p != s;
}

static void check_metadata(const rec_schema *s, config *c, const char *path) {
  static const char *const keys[] = {"model", "layer", NULL};
  for (const char *const *k = keys; *k; k++) {
    char ks[64], kt[64];
    snprintf(ks, sizeof ks, "src_%s", *k), snprintf(kt, sizeof kt, "tgt_%s", *k);
    const char *vs = rec_meta_get(s, ks), *vt = rec_meta_get(s, kt);
    if (vs && vt && strcmp(vs, vt) != 0 && !c->allow_mismatch)
      die("%s: the two sides come from different encoders (%s '%s', %s '%s'); "
          "use --allow-model-mismatch if that is intended",
          path, ks, vs, kt, vt);
  }
  for (int side = 0; side < 2; side++) {
    if (c->skip_special) {
      char key[32];
      snprintf(key, sizeof key, "%s_special_ids", side ? "tgt" : "src");
      const char *sp = rec_meta_get(s, key);
      if (!sp) snprintf(key, sizeof key, "special_ids"), sp = rec_meta_get(s, key);
      if (!sp)
        die("%s: --skip-special needs the stream metadata %s_special_ids or special_ids (written by tokenize); "
            "try --skip-ids or --skip-ends",
            path, side ? "tgt" : "src");
      if (*sp && !parse_ids(c, side, sp))
        die("%s: stream metadata %s is not a comma-separated list of ids: '%s'", path, key, sp);
    }
    if (c->skip_ids) parse_ids(c, side, c->skip_ids); /* checked with the options */
  }
}

/* Copy one record's vectors and masks into a slot (the reader's buffer is reused). */
static void load_slot(slot *sl, const rec_record *rec, const config *c, const int f[5]) {
  size_t idlen;
  const char *id = rec_has(rec, f[0]) ? rec_str(rec, f[0], &idlen) : "";
  if (!rec_has(rec, f[0])) idlen = 0;
  free(sl->id);
  sl->id = xmalloc(idlen + 1);
  memcpy(sl->id, id, idlen), sl->id[idlen] = 0;
  sl->index = rec->index;
  for (int side = 0; side < 2; side++) {
    int fv = f[1 + side];
    if (!rec_has(rec, fv))
      die("record %" PRIu64 " (id '%s'): no %s (run `embed` on this side first)", rec->index, sl->id,
          side ? "tgt_vecs" : "src_vecs");
    const rec_value *v = &rec->v[fv];
    int rows = (int)v->shape[0], d = (int)v->shape[1];
    if (side == 0) sl->n = rows, sl->d = d;
    else if (d != sl->d)
      die("record %" PRIu64 " (id '%s'): src_vecs has dimension %d, tgt_vecs %d", rec->index, sl->id, sl->d, d);
    else sl->m = rows;
    size_t cnt = (size_t)rows * d;
    float **dst = side ? &sl->T : &sl->S;
    grow((void **)dst, side ? &sl->cap_t : &sl->cap_s, cnt ? cnt : 1, sizeof(float));
    memcpy(*dst, v->data, cnt * sizeof(float));
    unsigned char **mask = side ? &sl->mask_t : &sl->mask_s;
    grow((void **)mask, side ? &sl->cap_mt : &sl->cap_ms, rows ? (size_t)rows : 1, 1);
    memset(*mask, 1, (size_t)rows);
    if (c->skip_ends && rows > 0) {
      (*mask)[0] = 0;
      (*mask)[rows - 1] = 0;
    }
    if (c->nspecial[side]) {
      int fi = f[3 + side];
      size_t nid = 0;
      const uint32_t *ids = rec_has(rec, fi) ? rec_u32(rec, fi, &nid) : NULL;
      if (!ids || nid != (size_t)rows)
        die("record %" PRIu64 " (id '%s'): leaving out special tokens needs %s with one id per vector (%zu ids, %d vectors)",
            rec->index, sl->id, side ? "tgt_ids" : "src_ids", nid, rows);
      for (int i = 0; i < rows; i++)
        if (is_special(c, side, ids[i])) (*mask)[i] = 0;
    }
  }
  size_t np = (size_t)sl->n * (size_t)sl->m;
  grow((void **)&sl->plan, &sl->cap_plan, np ? np : 1, sizeof(float));
}

/* Hard alignment pairs (i, j) into out (2 per pair); returns the count. */
static size_t align_pairs(const slot *sl, const config *c, uint32_t *out) {
  size_t k = 0;
  for (int i = 0; i < sl->n; i++) {
    if (!sl->mask_s[i]) continue;
    const float *row = sl->plan + (size_t)i * sl->m;
    double mass = 0;
    int best = -1;
    for (int j = 0; j < sl->m; j++) {
      mass += row[j];
      if (sl->mask_t[j] && (best < 0 || row[j] > row[best])) best = j;
    }
    if (c->threshold > 0) {
      for (int j = 0; j < sl->m; j++)
        if (sl->mask_t[j] && mass > 0 && row[j] / mass > c->threshold) out[2 * k] = (uint32_t)i, out[2 * k + 1] = (uint32_t)j, k++;
    } else if (best >= 0 && row[best] > 0) {
      out[2 * k] = (uint32_t)i, out[2 * k + 1] = (uint32_t)best, k++;
    }
  }
  return k;
}

static const char *side_field(int side) { return side ? "tgt_vecs" : "src_vecs"; }

int main(int argc, char **argv) {
  otc_init(argv[0]);
  ot_options o;
  ot_options_default(&o);
  config c = {0};
  int threads = 0;
  const char *cost = "cosine";
  enum { O_EPS = 256, O_TOL, O_MAXIT, O_SCALING, O_COST, O_PLAN, O_ALIGN, O_THRESH, O_TEXT, O_ENDS, O_SPECIAL,
         O_MISMATCH, O_SKIPIDS, O_THREADS, O_PROGRESS, O_HELP, O_VERSION };
  static const struct option longopts[] = {
      {"eps", required_argument, 0, O_EPS},         {"tol", required_argument, 0, O_TOL},
      {"max-iter", required_argument, 0, O_MAXIT},  {"eps-scaling", required_argument, 0, O_SCALING},
      {"cost", required_argument, 0, O_COST},       {"plan", no_argument, 0, O_PLAN},
      {"align", no_argument, 0, O_ALIGN},           {"threshold", required_argument, 0, O_THRESH},
      {"text", no_argument, 0, O_TEXT},             {"skip-ends", no_argument, 0, O_ENDS},
      {"skip-special", no_argument, 0, O_SPECIAL},  {"allow-model-mismatch", no_argument, 0, O_MISMATCH},
      {"skip-ids", required_argument, 0, O_SKIPIDS}, {"threads", required_argument, 0, O_THREADS}, {"progress", no_argument, 0, O_PROGRESS},
      {"help", no_argument, 0, O_HELP},             {"version", no_argument, 0, O_VERSION},
      {0, 0, 0, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (opt) {
    case O_EPS: o.eps = parse_double("--eps", optarg, 1e-300, 1e300); break;
    case O_TOL: o.tol = parse_double("--tol", optarg, 0, 1e300); break;
    case O_MAXIT: o.max_iter = (int)parse_long("--max-iter", optarg, 1, 1000000000); break;
    case O_SCALING: o.eps_start = parse_double("--eps-scaling", optarg, 1e-300, 1e300); break;
    case O_COST: cost = optarg; break;
    case O_PLAN: c.want_plan = true; break;
    case O_ALIGN: c.want_align = true; break;
    case O_THRESH: c.threshold = parse_double("--threshold", optarg, 1e-12, 1 - 1e-12); break;
    case O_TEXT: c.text = true; break;
    case O_ENDS: c.skip_ends = true; break;
    case O_SPECIAL: c.skip_special = true; break;
    case O_MISMATCH: c.allow_mismatch = true; break;
    case O_SKIPIDS:
      if (!parse_ids(&c, -1, optarg)) {
        fprintf(stderr, "%s: option --skip-ids: '%s' is not a comma-separated list of ids\n", otc_prog(), optarg);
        exit(OTC_EXIT_USAGE);
      }
      c.skip_ids = optarg;
      break;
    case O_THREADS: threads = (int)parse_long("--threads", optarg, 1, 4096); break;
    case O_PROGRESS: c.progress = true; break;
    case O_HELP: help(); break;
    case O_VERSION: print_version(); break;
    default: die_usage(usage_text);
    }
  }
  if (strcmp(cost, "cosine") == 0) o.cost = OT_COST_COSINE;
  else if (strcmp(cost, "sqeuclid") == 0) o.cost = OT_COST_SQEUCLID;
  else die_usage(usage_text);
  if (argc - optind > 1) die_usage_msg(usage_text, "unexpected operand '%s' (at most one input FILE)", argv[optind + 1]);
  if (c.threshold > 0 && !c.want_align && !c.text) c.want_align = true;
  const char *path = optind < argc ? argv[optind] : "-";
  kern_set_threads(threads);
  o.threads = otc_threads();

  rec_reader *in = rec_open_expect(path, "pair");
  rec_reader_allow_nonfinite(in, true); /* reported below with the token's place */
  const rec_schema *is = rec_reader_schema(in);
  check_metadata(is, &c, path);
  int f[5] = {rec_field_index(is, "id"), rec_field_index(is, "src_vecs"), rec_field_index(is, "tgt_vecs"),
              rec_field_index(is, "src_ids"), rec_field_index(is, "tgt_ids")};
  if (f[1] < 0 || f[2] < 0) die("%s: the pair stream has no src_vecs/tgt_vecs fields", path);

  rec_writer *out = NULL;
  int fo[6] = {0};
  if (!c.text) {
    rec_schema *os = rec_schema_builtin("plan");
    if (!os) die("no builtin 'plan' schema");
    for (int k = 0; k < is->nmeta; k++) rec_meta_set(os, is->meta_key[k], is->meta_val[k]);
    char buf[64];
    fmt_double(buf, sizeof buf, o.eps), rec_meta_set(os, "ot_eps", buf);
    fmt_double(buf, sizeof buf, o.tol), rec_meta_set(os, "ot_tol", buf);
    snprintf(buf, sizeof buf, "%d", o.max_iter), rec_meta_set(os, "ot_max_iter", buf);
    rec_meta_set(os, "ot_cost", cost);
    snprintf(buf, sizeof buf, "%s%s%s", c.skip_ends ? "ends," : "", c.skip_special ? "special," : "",
             c.skip_ids ? "ids," : "");
    if (buf[0]) buf[strlen(buf) - 1] = 0;
    rec_meta_set(os, "ot_left_out", buf[0] ? buf : "none");
    if (c.skip_ids) rec_meta_set(os, "ot_skip_ids", c.skip_ids);
    rec_write_opts wo = {0};
    out = rec_writer_or_die("-", os, &wo);
    rec_schema_free(os);
    const rec_schema *ws = rec_writer_schema(out);
    const char *names[6] = {"id", "cost", "iters", "err", "plan", "align"};
    for (int k = 0; k < 6; k++) fo[k] = rec_field_index(ws, names[k]);
  }

  slot *slots = xcalloc(BATCH, sizeof(slot));
  ot_problem *prob = xcalloc(BATCH, sizeof(ot_problem));
  ot_result *res = xcalloc(BATCH, sizeof(ot_result));
  void *work = NULL;
  size_t work_cap = 0;
  uint32_t *pairs = NULL;
  size_t pairs_cap = 0;
  char *line = NULL;
  size_t line_cap = 0;
  uint64_t total = 0, nonconv = 0;
  char *first_ids[MAX_REPORTED_IDS] = {0};
  otc_progress prog;
  progress_init(&prog, "pairs", c.progress);

  for (bool more = true; more;) {
    int nb = 0;
    rec_record rec;
    while (nb < BATCH && (more = rec_read_or_die(in, &rec))) {
      load_slot(&slots[nb], &rec, &c, f);
      slot *sl = &slots[nb];
      prob[nb] = (ot_problem){.S = sl->S, .T = sl->T, .n = sl->n, .m = sl->m, .ds = sl->d, .dt = sl->d,
                              .mask_s = sl->mask_s, .mask_t = sl->mask_t};
      res[nb] = (ot_result){.plan = sl->plan};
      nb++;
    }
    if (nb == 0) break;
    size_t need = ot_batch_workspace_size(prob, (size_t)nb, &o);
    if (need > work_cap) {
      free(work);
      work = xmalloc(need);
      work_cap = need;
    }
    ot_solve_batch(prob, res, (size_t)nb, &o, work, work_cap);
    for (int b = 0; b < nb; b++) {
      slot *sl = &slots[b];
      ot_result *r = &res[b];
      if (r->status != OT_OK) {
        if (out) rec_writer_abort(out);
        if (r->status == OT_ERR_NONFINITE || r->status == OT_ERR_ZERO_NORM)
          die("record %" PRIu64 " (id '%s'): %s token %d: %s", sl->index, sl->id, side_field(r->bad_side),
              r->bad_index, ot_strerror(r->status));
        if (r->status == OT_ERR_EMPTY)
          die("record %" PRIu64 " (id '%s'): %s: no token takes part (n = %d, m = %d)", sl->index, sl->id,
              side_field(r->bad_side), sl->n, sl->m);
        die("record %" PRIu64 " (id '%s'): %s", sl->index, sl->id, ot_strerror(r->status));
      }
      if (!r->converged) {
        if (nonconv < MAX_REPORTED_IDS) first_ids[nonconv] = xstrdup(sl->id);
        nonconv++;
      }
      size_t k = 0;
      if (c.want_align || c.text) {
        size_t maxk = (size_t)sl->n * (c.threshold > 0 ? (size_t)sl->m : 1);
        grow((void **)&pairs, &pairs_cap, 2 * maxk + 2, sizeof(uint32_t));
        k = align_pairs(sl, &c, pairs);
      }
      if (c.text) {
        size_t len = 0;
        grow((void **)&line, &line_cap, k * 24 + 2, 1);
        for (size_t q = 0; q < k; q++)
          len += (size_t)sprintf(line + len, "%s%" PRIu32 "-%" PRIu32, q ? " " : "", pairs[2 * q], pairs[2 * q + 1]);
        line[len++] = '\n';
        xfwrite_stdout(line, len);
        continue;
      }
      rec_put_str(out, fo[0], sl->id, strlen(sl->id));
      rec_put_f64_scalar(out, fo[1], r->cost);
      rec_put_u32_scalar(out, fo[2], (uint32_t)r->iters);
      rec_put_f64_scalar(out, fo[3], r->err);
      if (c.want_plan) {
        uint32_t shape[2] = {(uint32_t)sl->n, (uint32_t)sl->m};
        rec_put(out, fo[4], sl->plan, shape);
      }
      if (c.want_align) {
        uint32_t shape[2] = {(uint32_t)k, 2};
        rec_put(out, fo[5], pairs, shape);
      }
      rec_write_or_die(out);
    }
    total += (uint64_t)nb;
    progress_update(&prog, total, 0);
  }
  progress_end(&prog, total);
  rec_close(in);
  if (out) rec_writer_close_or_die(out);
  else otc_close_stdout();
  if (nonconv) {
    char ids[512] = "";
    size_t len = 0;
    for (uint64_t q = 0; q < nonconv && q < MAX_REPORTED_IDS; q++) {
      int w = snprintf(ids + len, sizeof ids - len, "%s'%s'", q ? ", " : "", first_ids[q]);
      if (w < 0 || (size_t)w >= sizeof ids - len) break;
      len += (size_t)w;
    }
    warnx_("warning: %" PRIu64 " of %" PRIu64 " pairs did not converge within %d iterations (err >= tol %g; "
           "raise --max-iter or --eps): %s%s",
           nonconv, total, o.max_iter, o.tol, ids, nonconv > MAX_REPORTED_IDS ? ", ..." : "");
  }
  for (int b = 0; b < BATCH; b++) {
    free(slots[b].id), free(slots[b].S), free(slots[b].T), free(slots[b].plan);
    free(slots[b].mask_s), free(slots[b].mask_t);
  }
  for (int q = 0; q < MAX_REPORTED_IDS; q++) free(first_ids[q]);
  free(slots), free(prob), free(res), free(work), free(pairs), free(line), free(c.special[0]), free(c.special[1]);
  return 0;
}
