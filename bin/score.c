/*
 * score: evaluate retrieval runs against relevance judgements: trec_eval 10, byte for byte
 *
 * A thin main: inputs are read by lib/eval/trec.c and qrels.c, the measures
 * live one per file in lib/eval/measures/ (table: measures.c), evaluation
 * and output in lib/eval/score.c, --compare and --groups in report.c.
 */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/score.h"
#include "eval/trec.h"
#include "stream/rec.h"

static const char usage[] =
    "Usage: score [trec_eval's options] QRELS RUN\n"
    "       score [OPTIONS] --qrels QRELS [RUN]          (RUN absent or -: stdin)\n"
    "       score [OPTIONS] --qrels QRELS RUN --compare RUN_B [--perms N] [--seed S]\n"
    "       score [OPTIONS] --qrels QRELS [RUN] --groups FILE\n";

static const char manual_fmt[] =
    "score: evaluate a retrieval run against judgements, as trec_eval 10 does.\n"
    "\n%s\n"
    "A drop-in replacement for trec_eval 10: the same options, input formats,\n"
    "measures and output, byte for byte (its own test suite passes through score).\n"
    "The run is a TREC run (lines `qid Q0 docid rank score tag`) or a `run` record\n"
    "stream (fields qid, docid, rank, score; zstd-compressed or not). Relevance\n"
    "information is in one of trec_eval's formats (-R). Output (stdout): lines\n"
    "  MEASURE<TAB>QID or all<TAB>VALUE   (\"%%-22s\\t%%s\\t%%6.4f\"; counts as integers)\n"
    "\n"
    "trec_eval's options (short and long, as its getopt_long has them):\n"
    "  -q, --query_eval_wanted\n"
    "        also print each topic's values, before the summary\n"
    "  -m, --measure NAME[.PARAMS]\n"
    "        a measure to report; repeatable. NAME, a set (official (default),\n"
    "        set, all_trec, all_prefs, prefs, qrels_jg) or NAME.PARAMS: cutoffs\n"
    "        (P.5,10; iprec_at_recall..25,.5; ndcg_cut.10,20,23.4 is ndcg_cut_23,\n"
    "        as in trec_eval), coefficients (utility.2,-1,0,0; set_F.0.5;\n"
    "        relstring.20) or gains and parameters (ndcg.1=3,2=9,4=4.5;\n"
    "        rbp.p=0.5). Printed in table order; given parameters name the values\n"
    "        (relstring_20, set_F_0.5, 11pt_avg_.25,.5,.75). A measure named twice\n"
    "        takes the first NAME.PARAMS naming it (-m P.10 -m P.5: P_10).\n"
    "  -c, --complete_rel_info_wanted\n"
    "        average over every judged topic: a topic missing from the run is\n"
    "        evaluated as trec_eval's stand-in ranking (one unjudged document),\n"
    "        then num_ret, utility, relstring, unj and rbp_resid are zeroed\n"
    "  -l, --level_for_rel N\n"
    "        grade >= N is relevant (default 1); with -c the summary num_rel\n"
    "        counts grades > 0 whatever N is (trec_eval's rule)\n"
    "  -M, --Max_retrieved_per_topic N\n"
    "        keep the N best documents of each topic\n"
    "  -J, --Judged_docs_only\n"
    "        drop documents without a grade >= 0 before measuring\n"
    "  -N, --Number_docs_in_coll N\n"
    "        documents in the collection (utility's 4th term)\n"
    "  -n, --nosummary\n"
    "        no summary lines (with -q: the topics only)\n"
    "  -R, --Rel_info_format F\n"
    "        qrels (default: qid iter docid grade), qrels_jg (qid jg docid grade:\n"
    "        a judgement set per jg, for the *_avgjg measures), prefs (qid jg jsg\n"
    "        docid rel_level) or qrels_prefs (qrels read as preferences), for the\n"
    "        prefs_* measures\n"
    "  -T, --Results_format F\n"
    "        trec_results (the only one trec_eval has)\n"
    "  -Z, --Zscore FILE\n"
    "        print Z-scores (value - mean) / stddev per topic and measure from\n"
    "        FILE (lines `qid measure mean stddev`; -1000000 when absent), names\n"
    "        prefixed with Z, and their means\n"
    "  -D, --Debug_level N[.QID]\n"
    "        evaluate only topic QID (no debug trace is printed)\n"
    "  -o, --Output_old_results_format\n"
    "        accepted and ignored (obsolete in trec_eval)\n"
    "  -h, --help; -v, --version\n"
    "\n"
    "score's own options:\n"
    "  --qrels FILE   the relevance information (else the first operand)\n"
    "  --compat       read numbers exactly as trec_eval does (atof, atol; below)\n"
    "  --compare RUN_B\n"
    "        compare RUN (A) with RUN_B topic by topic: per value, after a header,\n"
    "        MEASURE<TAB>mean_A<TAB>mean_B<TAB>B-A<TAB>p_t<TAB>p_rand.\n"
    "        p_t: two-sided paired Student t test; p_rand: two-sided paired\n"
    "        randomization test (sign flips of the per-topic differences),\n"
    "        (1 + #{|flipped mean| >= |observed|}) / (1 + N)\n"
    "  --perms N      permutations of the randomization test (default 10000)\n"
    "  --seed S       its random seed (default 1); same seed, same p-values\n"
    "  --groups FILE\n"
    "        lines `qid<TAB>group`: after the output, each group's summary\n"
    "        labelled `group=NAME` (strcmp order), then `macro`, the unweighted\n"
    "        mean of the group means. Every evaluated topic needs a group.\n"
    "\n"
    "Semantics (trec_eval's): a topic's ranking is its documents by score\n"
    "descending (the double its text denotes), ties by docid descending (prefs:\n"
    "ascending); the rank column and line order are ignored. Topics are the judged\n"
    "ones in strcmp order of qid (1, 10, 2); run topics without judgements are\n"
    "ignored; a judged topic without run lines is an error unless -c. A negative\n"
    "grade means pooled but unjudged. Blank lines and lines whose first field\n"
    "starts with # are skipped in every input.\n"
    "\n"
    "Deliberate differences from trec_eval 10 (everything else is identical):\n"
    "  - Numbers are checked: a score must be a whole finite number, a grade an\n"
    "    integer, a cutoff a number. trec_eval reads `1.5abc` as 1.5, `abc` as 0,\n"
    "    a grade `1.5` as 1, and accepts `nan`, `inf` and `1e999` (infinity),\n"
    "    ranking NaN wherever its sort leaves it: silent wrong results. score\n"
    "    refuses them, naming file and line. --compat reads them as trec_eval\n"
    "    does (NaN ranked as trec_eval ranks it), and then also ignores\n"
    "    parameters given to measures that take none (map.5), which score\n"
    "    refuses by default.\n"
    "  - A judgement file without judgement lines and a run without run lines\n"
    "    are refused (trec_eval: \"Cannot read qrels file\" / \"Cannot read\n"
    "    results file\" for an empty file; comments only: it reads garbage).\n"
    "  - Blank lines are skipped in judgement and Z-score files too, and every\n"
    "    line whose first field starts with # is a comment (trec_eval:\n"
    "    \"Malformed line\" on a blank line there; a comment as the last qrels\n"
    "    line crashes it). No option: these lines hold no judgement.\n"
    "  - A NUL byte in an input is an error (trec_eval stops reading there).\n"
    "  - Errors write nothing on stdout (trec_eval -q may have printed some\n"
    "    topics), name the file, line and topic, and exit 1 (bad usage: 2), where\n"
    "    trec_eval exits 1 to 10. A docid judged twice is refused for any topic.\n"
    "  - A topic judged only with negative grades has no grade counts here;\n"
    "    trec_eval reuses the previous topic's (seen in ideal_dcg) or fails when\n"
    "    it is the first. --compat: as trec_eval.\n"
    "  - rbp: trec_eval 10 scales gains with two variables it never initialises:\n"
    "    its value depends on the build, on gains given (rbp.3=5) and on the\n"
    "    measure computed before it (-m yaap). score starts them at 0, which\n"
    "    gives the values trec_eval's own tests show.\n"
    "  - prefs_avgjg_Rnonrel(_ret) with a preference level below 0 (qrels_prefs\n"
    "    of a -1 grade): trec_eval reads past the non-relevant class; score\n"
    "    stops at its end.\n"
    "  - dcg, ideal_dcg and ndcg share one parameter block in trec_eval: given\n"
    "    parameters, one measure's gains leak into the others and trec_eval\n"
    "    aborts on a double free. score gives each its own parameters.\n"
    "  - Option values (-M, -l, -N) must be integers (trec_eval: atol). -h and\n"
    "    -v print this manual and score's version; -D prints no debug trace.\n"
    "\n"
    "Measures (trec_eval's names and definitions; k are cutoffs):\n%s"
    "  xtreme_map and acc are XTREME-R's (not in trec_eval): xtreme_map.k divides by\n"
    "  min(num_rel, k) where map_cut.k divides by num_rel; acc.1 equals success_1.\n"
    "  Ties follow the ranking rule (docid descending), where XTREME-R's argmax\n"
    "  takes the first candidate: give distinct scores to compare with published\n"
    "  numbers.\n"
    "\n"
    "Examples:\n"
    "  score qrels.txt run.txt\n"
    "  score -q -m map -m P.5,10 -m ndcg_cut.10 qrels.txt run.txt\n"
    "  rank --docs docs.rec < queries.rec | score --qrels qrels.txt -m acc.1\n"
    "  score --qrels qrels.txt base.run --compare new.run -m map -m ndcg_cut.10\n"
    "  score --qrels qrels.txt run.txt --groups lang.tsv -m xtreme_map.20\n"
    "\n"
    "Exit status: 0 on success; 1 on an error (unreadable or malformed input, a\n"
    "judged topic missing from the run without -c, a docid twice in a ranking);\n"
    "2 on bad usage.\n";

static cli_prog prog = {"score", usage, NULL};

static void load_run_rec(trec_set *s, trec_run *r, trec_buf *b, const char *name) {
  char err[512];
  rec_reader *rd = rec_open_mem(b->p, b->len, name, err, sizeof err);
  if (!rd) die("%s", err);
  const rec_schema *sc = rec_reader_schema(rd);
  if (rec_schema_expect(sc, (const char *const[]){"run", NULL}, err, sizeof err)) die("%s: %s", name, err);
  int fq = rec_field_index(sc, "qid"), fd = rec_field_index(sc, "docid"), fs = rec_field_index(sc, "score");
  const char *tag = rec_meta_get(sc, "runid") ? rec_meta_get(sc, "runid") : rec_meta_get(sc, "tag");
  rec_record rr;
  int rc;
  while ((rc = rec_read(rd, &rr)) == 0) {
    size_t ql, dl;
    const char *q = rec_str(&rr, fq, &ql), *d = rec_str(&rr, fd, &dl);
    double v = rec_f64_scalar(&rr, fs);
    if (!isfinite(v)) die("%s: record %llu: score %g is not a finite number", name, (unsigned long long)rr.index, v);
    trec_run_add(s, r, q, ql, d, dl, v, tag ? tag : name, rr.index + 1);
  }
  if (rc < 0) die("%s", rec_error(rd));
  rec_close(rd);
  trec_buf_free(b);
}

static void load_run(trec_set *s, trec_run *r, const char *path, int compat) {
  static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
  char err[1024];
  trec_buf b;
  trec_run_init(r, path);
  if (trec_read_file(path, &b, err, sizeof err)) die("%s", err);
  if ((b.len >= 7 && !memcmp(b.p, REC_MAGIC, 7)) || (b.len >= 4 && !memcmp(b.p, zstd_magic, 4)))
    load_run_rec(s, r, &b, path);
  else if (trec_run_parse_owned(s, r, &b, compat, err, sizeof err))
    die("%s", err);
}

int main(int argc, char **argv) {
  char *measures = score_measures_help(), *manual = malloc(sizeof manual_fmt + sizeof usage + strlen(measures));
  sprintf(manual, manual_fmt, usage, measures);
  prog.manual = manual;
  cli_init(&prog, argv[0]);
  enum { O_QRELS = 256, O_COMPARE, O_GROUPS, O_PERMS, O_SEED, O_COMPAT };
  static const struct option lo[] = {
      {"query_eval_wanted", no_argument, 0, 'q'}, {"measure", required_argument, 0, 'm'},
      {"complete_rel_info_wanted", no_argument, 0, 'c'}, {"level_for_rel", required_argument, 0, 'l'},
      {"nosummary", no_argument, 0, 'n'}, {"Debug_level", required_argument, 0, 'D'},
      {"Judged_docs_only", no_argument, 0, 'J'}, {"Number_docs_in_coll", required_argument, 0, 'N'},
      {"Max_retrieved_per_topic", required_argument, 0, 'M'}, {"Rel_info_format", required_argument, 0, 'R'},
      {"Results_format", required_argument, 0, 'T'}, {"Output_old_results_format", required_argument, 0, 'o'},
      {"Zscore", required_argument, 0, 'Z'}, {"qrels", required_argument, 0, O_QRELS},
      {"compare", required_argument, 0, O_COMPARE}, {"groups", required_argument, 0, O_GROUPS},
      {"perms", required_argument, 0, O_PERMS}, {"seed", required_argument, 0, O_SEED},
      {"compat", no_argument, 0, O_COMPAT}, CLI_OPTIONS_COMMON, {0, 0, 0, 0}};
  static const char *const results_formats[] = {"trec_results", NULL};
  score_opts o;
  score_opts_default(&o);
  score_selection sel = {0};
  const char *qrels = NULL, *run_b = NULL, *groups_path = NULL, *zpath = NULL, *run_a = "-";
  int per_topic = 0, summary = 1, c;
  trec_format fmt = TREC_QRELS;
  long perms = 10000;
  uint64_t seed = 1;
  char err[1024];
  while ((c = getopt_long(argc, argv, "hvqm:cl:nD:JN:M:R:T:oZ:", lo, NULL)) != -1) {
    switch (c) {
    case 'm': if (score_select(&sel, optarg, err, sizeof err)) cli_usage_error("-m: %s", err); break;
    case 'q': per_topic = 1; break;
    case 'c': o.complete = 1; break;
    case 'J': o.judged_only = 1; break;
    case 'n': summary = 0; break;
    case 'o': break;
    case 'M': o.max_docs = parse_long("-M", optarg, 0, LONG_MAX); break;
    case 'l': o.relevance_level = parse_long("-l", optarg, -1000000, 1000000); break;
    case 'N': o.num_docs_in_coll = parse_long("-N", optarg, -LONG_MAX, LONG_MAX); break;
    case 'D': o.only_qid = strchr(optarg, '.') ? strchr(optarg, '.') + 1 : NULL; break;
    case 'R': fmt = (trec_format)cli_choice("-R", optarg, trec_format_names); break;
    case 'T': cli_choice("-T", optarg, results_formats); break;
    case 'Z': zpath = optarg; break;
    case O_QRELS: qrels = optarg; break;
    case O_COMPARE: run_b = optarg; break;
    case O_GROUPS: groups_path = optarg; break;
    case O_PERMS: perms = parse_long("--perms", optarg, 1, 1000000000L); break;
    case O_SEED: seed = cli_seed("--seed", optarg); break;
    case O_COMPAT: o.compat = 1; break;
    case 'h': cli_help();
    case 'v': cli_version();
    CLI_CASES_COMMON;
    }
  }
  int npos = argc - optind;
  if (!qrels && npos != 2) cli_usage_error("expected QRELS RUN or --qrels QRELS [RUN], got %d operand(s)", npos);
  if (qrels && npos > 1) cli_usage_error("unexpected operand '%s' (one RUN at most; compare with --compare)", argv[optind + 1]);
  if (!qrels) qrels = argv[optind++];
  if (optind < argc) run_a = argv[optind];
  if (run_b && groups_path) cli_usage_error("--compare and --groups cannot be combined");
  if (score_select_finish(&sel, o.compat, err, sizeof err)) cli_usage_error("-m: %s", err);

  /* Every input is read and checked before anything is written. */
  trec_set set;
  trec_set_init(&set);
  if (trec_relinfo_load(&set, qrels, fmt, o.compat, err, sizeof err)) die("%s", err);
  trec_run ra, rb;
  trec_zscores z;
  load_run(&set, &ra, run_a, o.compat);
  if (run_b) load_run(&set, &rb, run_b, o.compat);
  if (trec_run_finish(&set, &ra, err, sizeof err) || (run_b && trec_run_finish(&set, &rb, err, sizeof err)))
    die("%s", err);
  if (zpath && trec_zscores_load(&z, zpath, o.compat, err, sizeof err)) die("%s", err);
  score_result res, resb;
  if (score_evaluate(&set, &ra, &sel, &o, zpath ? &z : NULL, &res, err, sizeof err)) die("%s", err);
  if (run_b && score_evaluate(&set, &rb, &sel, &o, zpath ? &z : NULL, &resb, err, sizeof err)) die("%s", err);
  score_groups g;
  if (groups_path && score_groups_load(&g, groups_path, &set, &res, err, sizeof err)) die("%s", err);

  if (run_b) {
    score_print_compare(stdout, &sel, &res, &resb, perms, seed);
    score_result_free(&resb);
    trec_run_free(&rb);
  } else {
    score_print(stdout, &sel, &res, per_topic, summary);
  }
  if (groups_path) score_print_groups(stdout, &sel, &res, &g), score_groups_free(&g);
  if (zpath) trec_zscores_free(&z);
  score_result_free(&res);
  trec_run_free(&ra);
  trec_set_free(&set);
  score_selection_free(&sel);
  free(measures);
  free(manual);
  otc_close_stdout();
  return 0;
}
