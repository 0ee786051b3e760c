/*
 * score: evaluate retrieval runs against qrels with trec_eval's measures, compare runs
 *
 * A thin main: parsing lives in lib/trec.c, measures in lib/measure_*.c
 * (table in lib/measures.c), evaluation and output in lib/score.c, the
 * significance tests in lib/score_stats.c.
 */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/rec.h"
#include "eval/score.h"
#include "eval/trec.h"
#include "base/util.h"
#include "cli/cli.h"

static const char usage[] =
    "Usage: score [-q] [-c] [-J] [-M N] [-l N] [-m MEASURE]... --qrels QRELS [RUN]\n"
    "       score [OPTIONS] QRELS RUN            (trec_eval's argument order)\n"
    "       score [OPTIONS] --qrels QRELS RUN --compare RUN_B [--perms N] [--seed S]\n"
    "       score [OPTIONS] --qrels QRELS [RUN] --groups FILE\n";

static void print_help(void) {
  printf(
      "score: evaluate a retrieval run against relevance judgements, the trec_eval way.\n"
      "\n"
      "%s\n"
      "The run comes from RUN or, without it, from stdin: a TREC run (lines\n"
      "`qid Q0 docid rank score tag`) or a `run` record stream (fields qid, docid,\n"
      "rank, score; detected by its magic, zstd-compressed or not). The qrels are\n"
      "TREC qrels, lines `qid iter docid grade`. Blank lines and lines starting\n"
      "with '#' are skipped in both; a malformed line is an error naming the file\n"
      "and the line.\n"
      "\n"
      "Output (stdout): trec_eval's format, one value per line,\n"
      "  MEASURE<TAB>QID or all<TAB>VALUE   (\"%%-22s\\t%%s\\t%%6.4f\"; counts as integers)\n"
      "values equal trec_eval 10's to the last printed digit.\n"
      "\n"
      "Semantics (trec_eval 10):\n"
      "  - A topic's ranking is its documents sorted by score descending (the exact\n"
      "    double of the text, as atof gives it), ties broken by docid in DESCENDING\n"
      "    strcmp order (d9 before d10 before d1). The rank column and the line\n"
      "    order are ignored. A docid twice in one topic's ranking is an error.\n"
      "  - Topics are the qrels topics, in strcmp order of qid (1, 10, 11, 2).\n"
      "    Run topics without qrels are ignored. A qrels topic with no run line is\n"
      "    an error unless -c, which scores it as an empty ranking (every measure 0\n"
      "    but num_rel) and counts it in num_q and every mean. A qrels topic\n"
      "    without any relevant document counts, with zeros.\n"
      "  - A grade >= the relevance level (-l, default 1) is relevant. A negative\n"
      "    grade means pooled but unjudged: neither relevant nor non-relevant\n"
      "    (bpref, infAP, unj and relstring tell them apart). ndcg's gains are the\n"
      "    raw grades.\n"
      "\n"
      "Options:\n"
      "  --qrels FILE   relevance judgements (required unless given positionally)\n"
      "  -m MEASURE     measure to report; repeatable. NAME, NAME.PARAMS (P.5,10;\n"
      "                 iprec_at_recall.0.5; set_F.0.5; relstring.20) or a set:\n"
      "                 official (default), set, all_trec. Printed in table order.\n"
      "  -q             also print every topic's values (before the `all` lines)\n"
      "  -c             average over all qrels topics, scoring missing ones as empty\n"
      "  -M N           keep only the N best documents of each topic\n"
      "  -J             drop documents absent from the qrels or with a negative grade\n"
      "                 before measuring (judged documents only)\n"
      "  -l N           relevance level: grade >= N is relevant (default 1)\n"
      "  -N N           number of documents in the collection (utility's 4th term)\n"
      "  --compare RUN_B  compare RUN (A) with RUN_B topic by topic: per measure, a\n"
      "                 line `MEASURE<TAB>mean_A<TAB>mean_B<TAB>B-A<TAB>p_t<TAB>p_rand`\n"
      "                 after a header line. p_t: two-sided paired Student t test;\n"
      "                 p_rand: two-sided paired randomization test (sign flips of\n"
      "                 the per-topic differences), (1 + #{|flipped mean| >= |observed|})\n"
      "                 / (1 + N). Topics: the qrels topics (with -c, missing ones\n"
      "                 count as empty rankings). Summary-only and string measures\n"
      "                 are skipped.\n"
      "  --perms N      permutations of the randomization test (default 10000)\n"
      "  --seed S       its random seed (default 1); same seed, same p-values\n"
      "  --groups FILE  lines `qid<TAB>group` (e.g. language, or low/high resource):\n"
      "                 after the usual output, each group's summary labelled\n"
      "                 `group=NAME` (groups in strcmp order), then `macro`, the\n"
      "                 unweighted mean of the group means (mean-type measures only).\n"
      "                 Every qrels topic must have a group.\n"
      "  --help, --version\n"
      "\n"
      "Measures (trec_eval's names and definitions; k are cutoffs):\n",
      usage);
  for (int i = 0; i < score_num_measures; i++) {
    /* Wrap the one-line descriptions at 79 columns under their column. */
    const char *h = score_measures[i]->help;
    printf("  %-22s", score_measures[i]->name);
    int col = 24;
    while (*h) {
      const char *sp = strchr(h, ' ');
      int w = sp ? (int)(sp - h) : (int)strlen(h);
      if (col + 1 + w > 79 && col > 25) {
        printf("\n%25s", "");
        col = 25;
      } else {
        putchar(' ');
        col++;
      }
      printf("%.*s", w, h);
      col += w;
      h += w;
      while (*h == ' ') h++;
    }
    putchar('\n');
  }
  printf(
      "\n"
      "XTREME-R measures (not in trec_eval):\n"
      "  xtreme_map.k   mAP@k of LAReQA and Mewsli-X: the precisions at the relevant\n"
      "                 documents within the top k, summed, divided by min(num_rel, k).\n"
      "                 trec_eval's map_cut.k divides the same sum by num_rel, so when\n"
      "                 a topic has more than k relevant documents map_cut cannot reach\n"
      "                 1 and xtreme_map can; with num_rel <= k they are equal.\n"
      "  acc.1          Tatoeba accuracy@1: 1 when the top-ranked document is relevant\n"
      "                 (acc.k: within the top k; acc.1 equals success_1). map_cut has\n"
      "                 no such measure: map_cut.1 is P@1 / num_rel.\n"
      "  Ties in both follow the ranking rule above (score, then docid descending):\n"
      "  a tie at the top is decided by docid, where XTREME-R's argmax would take the\n"
      "  first document of the candidate list, so give distinct scores (or docids\n"
      "  that sort as intended) when comparing with published numbers.\n"
      "\n"
      "Examples:\n"
      "  score --qrels qrels.txt run.txt\n"
      "  score -q -m map -m P.5,10 -m ndcg_cut.10 --qrels qrels.txt run.txt\n"
      "  rank --docs docs.rec < queries.rec | score --qrels qrels.txt -m acc.1\n"
      "  score --qrels qrels.txt base.run --compare new.run -m map -m ndcg_cut.10\n"
      "  score --qrels qrels.txt run.txt --groups lang.tsv -m xtreme_map.20\n"
      "\n"
      "Exit status: 0 on success; 1 on an error (unreadable or malformed input, a\n"
      "qrels topic missing from the run without -c, a docid twice in a ranking;\n"
      "where trec_eval exits 4); 2 on bad usage.\n");
}

static int is_rec_stream(const char *buf, size_t len) {
  static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
  if (len >= 7 && !memcmp(buf, REC_MAGIC, 7)) return 1;
  return len >= 4 && !memcmp(buf, zstd_magic, 4);
}

static void load_run_rec(trec_set *s, trec_run *r, trec_buf *b, const char *name) {
  char err[512];
  rec_reader *rd = rec_open_mem(b->p, b->len, name, err, sizeof err);
  if (!rd) die("%s", err);
  const rec_schema *sc = rec_reader_schema(rd);
  if (rec_schema_expect(sc, (const char *const[]){"run", NULL}, err, sizeof err) != 0) die("%s: %s", name, err);
  int fq = rec_field_index(sc, "qid"), fd = rec_field_index(sc, "docid"),
      fs = rec_field_index(sc, "score");
  if (fq < 0 || fd < 0 || fs < 0) die("%s: 'run' stream lacks qid, docid or score", name);
  const char *tag = rec_meta_get(sc, "runid");
  if (!tag) tag = rec_meta_get(sc, "tag");
  rec_record rr;
  int rc;
  while ((rc = rec_read(rd, &rr)) == 0) {
    size_t ql, dl;
    const char *q = rec_str(&rr, fq, &ql);
    const char *d = rec_str(&rr, fd, &dl);
    double sc_v = rec_f64_scalar(&rr, fs);
    if (isnan(sc_v)) die("%s: record %llu: score is NaN", name, (unsigned long long)rr.index);
    trec_run_add(s, r, q, ql, d, dl, sc_v, tag, rr.index + 1);
  }
  if (rc < 0) die("%s", rec_error(rd));
  if (!tag) {
    /* No tag column in records: name the run after its file. */
    free(r->tag);
    r->tag = xstrdup(name);
  }
  rec_close(rd);
  trec_buf_free(b);
}

static void load_run(trec_set *s, trec_run *r, const char *path) {
  char err[1024];
  trec_buf b;
  trec_run_init(r, path);
  if (trec_read_file(path, &b, err, sizeof err)) die("%s", err);
  if (is_rec_stream(b.p, b.len)) {
    load_run_rec(s, r, &b, path);
  } else if (trec_run_parse_owned(s, r, &b, err, sizeof err)) {
    die("%s", err);
  }
}

typedef struct {
  char **name;
  uint32_t n;
  uint32_t *of_row; /* group index of each result row */
} groups;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_groups(const char *path, const trec_set *s, const score_result *res, groups *g) {
  char err[1024];
  trec_buf b;
  if (trec_read_file(path, &b, err, sizeof err)) die("%s", err);
  char *buf = xmalloc(b.len + 1);
  size_t len = b.len;
  memcpy(buf, b.p, len + 1);
  trec_buf_free(&b);
  uint32_t *topic_group = xmalloc(((size_t)s->ntopics + 1) * sizeof *topic_group);
  for (uint32_t t = 0; t < s->ntopics; t++) topic_group[t] = UINT32_MAX;
  char **names = NULL;
  uint32_t nnames = 0;
  char **raw = NULL; /* group name per line, resolved after sorting */
  uint64_t line = 0;
  char *p = buf;
  while (*p || p < buf + len) {
    if (p >= buf + len) break;
    line++;
    char *nl = memchr(p, '\n', (size_t)(buf + len - p));
    char *e = nl ? nl : buf + len;
    if (e > p && e[-1] == '\r') e[-1] = 0;
    *e = 0;
    if (*p && *p != '#') {
      char *tab = strchr(p, '\t');
      if (!tab || tab == p || !tab[1]) die("%s: line %llu: expected qid<TAB>group", path, (unsigned long long)line);
      *tab = 0;
      uint32_t t = trec_topic_find(s, p, strlen(p));
      if (t != UINT32_MAX) {
        uint32_t k;
        for (k = 0; k < nnames && strcmp(names[k], tab + 1); k++) {
        }
        if (k == nnames) {
          names = xrealloc(names, (nnames + 1) * sizeof *names);
          names[nnames++] = xstrdup(tab + 1);
        }
        if (topic_group[t] != UINT32_MAX && strcmp(names[topic_group[t]], tab + 1))
          die("%s: line %llu: topic '%s' is in two groups", path, (unsigned long long)line, p);
        topic_group[t] = k;
      }
    }
    p = nl ? nl + 1 : buf + len;
  }
  (void)raw;
  /* Renumber groups in strcmp order of their names. */
  char **sorted = xmalloc((nnames + 1) * sizeof *sorted);
  memcpy(sorted, names, nnames * sizeof *sorted);
  qsort(sorted, nnames, sizeof *sorted, cmp_str);
  uint32_t *renum = xmalloc((nnames + 1) * sizeof *renum);
  for (uint32_t i = 0; i < nnames; i++)
    for (uint32_t j = 0; j < nnames; j++)
      if (sorted[j] == names[i]) renum[i] = j;
  g->name = sorted;
  g->n = nnames;
  g->of_row = xmalloc(((size_t)res->ntopics + 1) * sizeof *g->of_row);
  for (uint32_t i = 0; i < res->ntopics; i++) {
    uint32_t t = res->topic[i];
    if (topic_group[t] == UINT32_MAX) die("%s: topic '%s' has no group", path, s->topic[t].qid);
    g->of_row[i] = renum[topic_group[t]];
  }
  free(renum);
  free(names);
  free(topic_group);
  free(buf);
}

static void print_groups(const score_selection *sel, const score_result *res, const groups *g) {
  uint32_t *rows = xmalloc(((size_t)res->ntopics + 1) * sizeof *rows);
  double *macro = xcalloc((size_t)sel->ncols + 1, sizeof *macro);
  for (uint32_t k = 0; k < g->n; k++) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < res->ntopics; i++)
      if (g->of_row[i] == k) rows[n++] = i;
    char label[512];
    snprintf(label, sizeof label, "group=%s", g->name[k]);
    score_print_summary(stdout, sel, res, rows, n, label);
    for (int m = 0; m < sel->nsel; m++) {
      const score_sel *q = &sel->sel[m];
      for (int i = 0; i < q->nvalues; i++)
        macro[q->col + i] += score_summary_value(q, res, q->col + i, rows, n);
    }
  }
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    if (q->m->agg != SA_MEAN && q->m->agg != SA_GEOMEAN) continue;
    for (int i = 0; i < q->nvalues; i++)
      printf("%-22s\t%s\t%6.4f\n", q->names[i], "macro", g->n ? macro[q->col + i] / g->n : 0.0);
  }
  free(rows);
  free(macro);
}

static void print_compare(const score_selection *sel, const score_result *a, const score_result *b,
                          long perms, uint64_t seed) {
  uint32_t n = a->ntopics;
  double *va = xmalloc(((size_t)n + 1) * sizeof *va), *vb = xmalloc(((size_t)n + 1) * sizeof *vb);
  printf("measure\tmean_a\tmean_b\tdiff\tp_ttest\tp_rand\n");
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    if (q->m->agg != SA_MEAN && q->m->agg != SA_SUM) continue;
    for (int i = 0; i < q->nvalues; i++) {
      int col = q->col + i;
      double ma = 0, mb = 0;
      for (uint32_t r = 0; r < n; r++) {
        va[r] = a->v[(size_t)r * (size_t)a->ncols + (size_t)col];
        vb[r] = b->v[(size_t)r * (size_t)b->ncols + (size_t)col];
        ma += va[r];
        mb += vb[r];
      }
      ma = n ? ma / n : 0;
      mb = n ? mb / n : 0;
      double pt = score_paired_t(va, vb, (int)n, NULL);
      double pr = score_paired_randomization(va, vb, (int)n, perms, seed);
      printf("%s\t%.4f\t%.4f\t%+.4f\t%.4g\t%.4g\n", q->names[i], ma, mb, mb - ma, pt, pr);
    }
  }
  free(va);
  free(vb);
}

int main(int argc, char **argv) {
  otc_init(argv[0]);
  enum { O_QRELS = 256, O_COMPARE, O_GROUPS, O_PERMS, O_SEED, O_VERSION };
  static const struct option lo[] = {
      {"qrels", required_argument, 0, O_QRELS},   {"compare", required_argument, 0, O_COMPARE},
      {"groups", required_argument, 0, O_GROUPS}, {"perms", required_argument, 0, O_PERMS},
      {"seed", required_argument, 0, O_SEED},     {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, O_VERSION},     {0, 0, 0, 0}};
  score_opts o;
  score_opts_default(&o);
  score_selection sel = {0};
  const char *qrels = NULL, *run_b = NULL, *groups_path = NULL;
  int per_topic = 0;
  long perms = 10000;
  uint64_t seed = 1;
  char err[1024];
  int c;
  while ((c = getopt_long(argc, argv, "m:qcM:Jl:N:h", lo, NULL)) != -1) {
    switch (c) {
    case 'm':
      if (score_select(&sel, optarg, err, sizeof err)) {
        fprintf(stderr, "%s: -m: %s\n", otc_prog(), err);
        die_usage(usage);
      }
      break;
    case 'q': per_topic = 1; break;
    case 'c': o.complete = 1; break;
    case 'J': o.judged_only = 1; break;
    case 'M': o.max_docs = parse_long("-M", optarg, 0, LONG_MAX); break;
    case 'l': o.relevance_level = parse_long("-l", optarg, -1000000, 1000000); break;
    case 'N': o.num_docs_in_coll = parse_long("-N", optarg, 0, LONG_MAX); break;
    case O_QRELS: qrels = optarg; break;
    case O_COMPARE: run_b = optarg; break;
    case O_GROUPS: groups_path = optarg; break;
    case O_PERMS: perms = parse_long("--perms", optarg, 1, 1000000000L); break;
    case O_SEED: seed = (uint64_t)parse_long("--seed", optarg, 0, LONG_MAX); break;
    case 'h': print_help(); otc_close_stdout(); return 0;
    case O_VERSION: print_version();
    default: die_usage(usage);
    }
  }
  int npos = argc - optind;
  const char *run_a = "-";
  if (!qrels) {
    if (npos != 2) die_usage_msg(usage, "expected --qrels QRELS [RUN] or QRELS RUN, got %d operand(s)", npos);
    qrels = argv[optind];
    run_a = argv[optind + 1];
  } else {
    if (npos > 1) die_usage_msg(usage, "unexpected operand '%s' (one RUN at most; compare with --compare)", argv[optind + 1]);
    if (npos == 1) run_a = argv[optind];
  }
  if (run_b && groups_path) {
    fprintf(stderr, "%s: --compare and --groups cannot be combined\n", otc_prog());
    die_usage(usage);
  }
  score_select_finish(&sel);

  trec_set set;
  trec_set_init(&set);
  if (trec_qrels_load(&set, qrels, err, sizeof err)) die("%s", err);
  trec_run ra, rb;
  load_run(&set, &ra, run_a);
  if (run_b) load_run(&set, &rb, run_b);
  trec_run_finish(&set, &ra);
  if (run_b) trec_run_finish(&set, &rb);

  score_result res;
  int rc = score_evaluate(&set, &ra, &sel, &o, &res, err, sizeof err);
  if (run_b) {
    if (rc) die("%s", err);
    score_result resb;
    if (score_evaluate(&set, &rb, &sel, &o, &resb, err, sizeof err)) die("%s", err);
    print_compare(&sel, &res, &resb, perms, seed);
    score_result_free(&resb);
  } else {
    if (per_topic)
      for (uint32_t i = 0; i < res.ntopics; i++)
        score_print_topic(stdout, &sel, &res, i, set.topic[res.topic[i]].qid);
    if (rc) die("%s", err);
    score_print_summary(stdout, &sel, &res, NULL, 0, "all");
    if (groups_path) {
      groups g;
      load_groups(groups_path, &set, &res, &g);
      print_groups(&sel, &res, &g);
      for (uint32_t k = 0; k < g.n; k++) free(g.name[k]);
      free(g.name);
      free(g.of_row);
    }
  }
  score_result_free(&res);
  trec_run_free(&ra);
  if (run_b) trec_run_free(&rb);
  trec_set_free(&set);
  score_selection_free(&sel);
  otc_close_stdout();
  return 0;
}
