/* test_score.c: TREC parsing, the trec_eval measures against trec_eval's own
 * output (every row of fixtures/trec_eval/cases.tsv), the XTREME-R measures
 * on hand-computed rankings, and the significance tests. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/rng.h"
#include "eval/score.h"
#include "eval/trec.h"
#include "base/util.h"
#include "cli/cli.h"

/* ---------------- helpers ---------------- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *b = xmalloc(cap);
  size_t k;
  while ((k = fread(b + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) b = xrealloc(b, cap *= 2);
  }
  fclose(f);
  b[n] = 0;
  return b;
}

static char *join(const char *dir, const char *file) {
  char *p = xmalloc(strlen(dir) + strlen(file) + 2);
  sprintf(p, "%s/%s", dir, file);
  return p;
}

/* Drop lines whose first field is `rbp` (trec_eval 10 prints garbage there). */
static void drop_rbp(char *s) {
  char *w = s, *p = s;
  while (*p) {
    char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
    int is_rbp = !strncmp(p, "rbp ", 4) || !strncmp(p, "rbp\t", 4);
    if (!is_rbp) {
      memmove(w, p, len);
      w += len;
    }
    p += len;
  }
  *w = 0;
}

typedef struct {
  trec_set set;
  trec_run run;
  int ok;
  char err[1024];
} loaded;

static int load_text(loaded *L, const char *qrels, const char *run) {
  memset(L, 0, sizeof *L);
  trec_set_init(&L->set);
  if (trec_qrels_parse(&L->set, qrels, strlen(qrels), "qrels", L->err, sizeof L->err)) return -1;
  trec_run_init(&L->run, "run");
  size_t n = strlen(run);
  trec_buf b = {.p = xmalloc(n + 1), .len = n};
  memcpy(b.p, run, n + 1);
  if (trec_run_parse_owned(&L->set, &L->run, &b, L->err, sizeof L->err)) return -1;
  trec_run_finish(&L->set, &L->run);
  L->ok = 1;
  return 0;
}

static void unload(loaded *L) {
  trec_run_free(&L->run);
  trec_set_free(&L->set);
}

/* Value of measure column `name` (a printed name such as "P_5") for topic
   row `row`, or the summary when row < 0. */
static double value_of(const char *qrels, const char *run, const char *measures, const char *name,
                       int row, const score_opts *o) {
  loaded L;
  if (load_text(&L, qrels, run)) {
    printf("# load failed: %s\n", L.err);
    return NAN;
  }
  score_selection sel = {0};
  char err[256], buf[256];
  snprintf(buf, sizeof buf, "%s", measures);
  for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
    if (score_select(&sel, tok, err, sizeof err)) printf("# select: %s\n", err);
  score_select_finish(&sel);
  score_opts def;
  score_opts_default(&def);
  score_result r;
  double v = NAN;
  if (score_evaluate(&L.set, &L.run, &sel, o ? o : &def, &r, err, sizeof err) == 0) {
    for (int m = 0; m < sel.nsel; m++)
      for (int i = 0; i < sel.sel[m].nvalues; i++)
        if (!strcmp(sel.sel[m].names[i], name))
          v = row < 0 ? score_summary_value(&sel.sel[m], &r, sel.sel[m].col + i, NULL, 0)
                      : r.v[(size_t)row * (size_t)r.ncols + (size_t)(sel.sel[m].col + i)];
  } else {
    printf("# evaluate: %s\n", err);
  }
  score_result_free(&r);
  score_selection_free(&sel);
  unload(&L);
  return v;
}

/* ---------------- parsing ---------------- */

static void test_parse_score(void) {
  static const struct {
    const char *s;
    double v;
  } ok[] = {{"1", 1.0},       {"1.0", 1.0},      {"1e0", 1.0},        {"+1", 1.0},
            {".1e1", 1.0},    {"-0", -0.0},      {"-2.5", -2.5},      {"1e-300", 1e-300},
            {"0x1p3", 8.0},   {"inf", INFINITY}, {"4.474176e-08", 4.474176e-08},
            {"12.740586302334316", 12.740586302334316}, {"1.", 1.0}, {"00012", 12.0}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    double v = -1;
    int rc = trec_parse_score(ok[i].s, ok[i].s + strlen(ok[i].s), &v);
    CHECK(rc == 0 && v == ok[i].v && signbit(v) == signbit(ok[i].v), "score '%s' parses as %.17g",
          ok[i].s, ok[i].v);
  }
  static const char *bad[] = {"abc", "1e", ".", "nan", "", "1.5x", "--1", "1e+"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double v;
    CHECK(trec_parse_score(bad[i], bad[i] + strlen(bad[i]), &v) == -1, "score '%s' is rejected",
          bad[i]);
  }
  /* Exactness against strtod: ties depend on the exact double. Random
     mantissas of 1-20 digits, decimal points anywhere, exponents. */
  rng_t r;
  rng_seed(&r, 42);
  int mismatches = 0, n = 200000;
  char buf[64];
  for (int i = 0; i < n; i++) {
    int nd = 1 + (int)rng_below(&r, 20), dot = (int)rng_below(&r, (uint64_t)nd + 1);
    int k = 0;
    if (rng_below(&r, 4) == 0) buf[k++] = '-';
    for (int d = 0; d < nd; d++) {
      if (d == dot && d > 0) buf[k++] = '.';
      buf[k++] = (char)('0' + rng_below(&r, 10));
    }
    if (rng_below(&r, 3) == 0) k += sprintf(buf + k, "e%d", (int)rng_below(&r, 80) - 40);
    buf[k] = 0;
    double want = strtod(buf, NULL), got;
    if (trec_parse_score(buf, buf + k, &got) || memcmp(&got, &want, sizeof got)) {
      if (mismatches++ < 5) printf("# mismatch: '%s' -> %.17g, strtod %.17g\n", buf, got, want);
    }
  }
  /* Printed doubles (%.17g) round-trip exactly: the common case in runs. */
  for (int i = 0; i < n; i++) {
    double x = (rng_uniform(&r) - 0.3) * pow(10, (int)rng_below(&r, 12) - 4), got;
    int k = sprintf(buf, "%.17g", x);
    if (trec_parse_score(buf, buf + k, &got) || got != x) {
      if (mismatches++ < 5) printf("# mismatch: '%s' -> %.17g\n", buf, got);
    }
  }
  CHECK(mismatches == 0, "%d random scores parse bit-identically to strtod", 2 * n);
}

static void test_parse_errors(void) {
  trec_set s;
  char err[512];
  trec_set_init(&s);
  const char *q = "1 0 d1 1\n1 0 d2\n";
  CHECK(trec_qrels_parse(&s, q, strlen(q), "q.txt", err, sizeof err) == -1 &&
            strstr(err, "q.txt: line 2:") && strstr(err, "4 fields"),
        "qrels with 3 fields: '%s'", err);
  trec_set_free(&s);
  trec_set_init(&s);
  q = "1 0 d1 1\n\n# comment\n1 0 d2 x\n";
  CHECK(trec_qrels_parse(&s, q, strlen(q), "q.txt", err, sizeof err) == -1 &&
            strstr(err, "line 4:") && strstr(err, "not an integer"),
        "qrels grade not an integer: '%s'", err);
  trec_set_free(&s);
  trec_set_init(&s);
  q = "1 0 d1 1\n2 0 d1 0\n1 0 d2 0\n1 0 d1 2\n";
  CHECK(trec_qrels_parse(&s, q, strlen(q), "q.txt", err, sizeof err) == -1 &&
            strstr(err, "line 4:") && strstr(err, "'d1'") && strstr(err, "(line 1)"),
        "docid judged twice in one topic: '%s'", err);
  trec_set_free(&s);

  loaded L;
  CHECK(load_text(&L, "1 0 d1 1\n", "1 Q0 d1 1 2.0 t\n1 Q0 d2 2 1.0\n") == -1 &&
            strstr(L.err, "run: line 2:") && strstr(L.err, "6 fields"),
        "run line with 5 fields: '%s'", L.err);
  unload(&L);
  CHECK(load_text(&L, "1 0 d1 1\n", "1 Q0 d1 1 2.0 t\n\n1 Q0 d2 2 1.O t\n") == -1 &&
            strstr(L.err, "run: line 3:") && strstr(L.err, "'1.O'"),
        "run score not a number: '%s'", L.err);
  unload(&L);
  CHECK(load_text(&L, "1 0 d1 1\n", "# c\n\n1 Q0 d1 1 2.0 t extra fields\n") == 0 &&
            L.run.n == 1 && !strcmp(L.run.tag, "t"),
        "comments, blank lines and extra fields are accepted");
  unload(&L);
}

static void test_ranking_order(void) {
  /* Equal scores: docid descending by strcmp, so d9 > d10 > d1; the rank
     column and the line order play no part; 1, 1.0, 1e0, +1, .1e1 tie. */
  loaded L;
  load_text(&L, "1 0 d1 1\n",
            "1 Q0 d1 1 1 t\n1 Q0 d10 2 1.0 t\n1 Q0 d9 3 1e0 t\n1 Q0 x 9 +1 t\n1 Q0 a 4 .1e1 t\n"
            "1 Q0 top 5 2 t\n1 Q0 neg 1 -1 t\n");
  trec_entry *e = L.run.e;
  size_t n = L.run.n;
  trec_sort_ranking(e, n);
  const char *want[] = {"top", "x", "d9", "d10", "d1", "a", "neg"};
  int ok = n == 7;
  for (size_t i = 0; ok && i < n; i++)
    ok = e[i].docid_len == strlen(want[i]) && !memcmp(e[i].docid, want[i], e[i].docid_len);
  CHECK(ok, "ties broken by docid in descending strcmp order");
  unload(&L);

  score_opts o;
  score_opts_default(&o);
  CHECK(value_of("1 0 d1 1\n", "1 Q0 d1 1 1 t\n1 Q0 d10 2 1.0 t\n1 Q0 d9 3 1e0 t\n",
                 "recip_rank", "recip_rank", 0, &o) == 1.0 / 3,
        "a relevant d1 tied with d9 and d10 ranks third");
  CHECK(isnan(value_of("1 0 d1 1\n", "1 Q0 d1 1 1 t\n1 Q0 d1 2 0.5 t\n", "map", "map", 0, &o)),
        "a docid twice in one topic is an error");
  o.max_docs = 1;
  CHECK(value_of("1 0 d1 1\n", "1 Q0 d1 1 1 t\n1 Q0 d1 2 0.5 t\n", "map", "map", 0, &o) == 1.0,
        "with -M 1 a duplicate below the cut is not seen (trec_eval 10)");
}

/* ---------------- trec_eval's fixture ---------------- */

/* Run one cases.tsv row through the library as bin/score does. Returns the
   printed text; *rc is 0, or 1 where evaluation failed (trec_eval's exit 4). */
static char *run_case(const char *dir, char *args, const char *qrels, const char *run, int *rc,
                      char *err, size_t errlen) {
  score_opts o;
  score_opts_default(&o);
  score_selection sel = {0};
  int per_topic = 0;
  err[0] = 0;
  for (char *a = strtok(args, " "); a; a = strtok(NULL, " ")) {
    if (!strcmp(a, "-q")) per_topic = 1;
    else if (!strcmp(a, "-c")) o.complete = 1;
    else if (!strcmp(a, "-J")) o.judged_only = 1;
    else if (!strcmp(a, "-M")) o.max_docs = atol(strtok(NULL, " "));
    else if (!strcmp(a, "-l")) o.relevance_level = atol(strtok(NULL, " "));
    else if (!strcmp(a, "-m")) score_select(&sel, strtok(NULL, " "), err, errlen);
  }
  score_select_finish(&sel);
  trec_set s;
  trec_set_init(&s);
  char *path = join(dir, qrels);
  int bad = trec_qrels_load(&s, path, err, errlen);
  free(path);
  if (bad) {
    *rc = 2;
    return xstrdup("");
  }
  trec_run r;
  trec_buf b;
  path = join(dir, run);
  trec_run_init(&r, path);
  bad = trec_read_file(path, &b, err, errlen) || trec_run_parse_owned(&s, &r, &b, err, errlen);
  free(path);
  if (bad) {
    *rc = 2;
    return xstrdup("");
  }
  trec_run_finish(&s, &r);
  char *out = NULL;
  size_t outlen = 0;
  FILE *f = open_memstream(&out, &outlen);
  score_result res;
  *rc = score_evaluate(&s, &r, &sel, &o, &res, err, errlen) ? 1 : 0;
  if (per_topic)
    for (uint32_t i = 0; i < res.ntopics; i++) score_print_topic(f, &sel, &res, i, s.topic[res.topic[i]].qid);
  if (*rc == 0) score_print_summary(f, &sel, &res, NULL, 0, "all");
  fclose(f);
  score_result_free(&res);
  score_selection_free(&sel);
  trec_run_free(&r);
  trec_set_free(&s);
  return out;
}

static void test_trec_eval_fixture(void) {
  char *dir = xstrdup(check_shared("fixtures/trec_eval"));
  char *path = join(dir, "cases.tsv");
  char *cases = slurp(path);
  CHECK(cases != NULL, "read %s", path);
  free(path);
  if (!cases) {
    free(dir);
    return;
  }
  int rows = 0;
  char *save = NULL;
  for (char *line = strtok_r(cases, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (!strncmp(line, "case\t", 5)) continue;
    char *f[7];
    int nf = 0;
    for (char *p = line; nf < 7; nf++) {
      f[nf] = p;
      char *t = strchr(p, '\t');
      if (!t) {
        nf++;
        break;
      }
      *t = 0;
      p = t + 1;
    }
    if (nf != 7) continue;
    rows++;
    char args[512], err[1024];
    snprintf(args, sizeof args, "%s", f[1]);
    int rc;
    char *got = run_case(dir, args, f[2], f[3], &rc, err, sizeof err);
    path = join(dir, f[4]);
    char *want = slurp(path);
    free(path);
    if (!want) want = xstrdup("");
    drop_rbp(got);
    drop_rbp(want);
    int want_rc = atoi(f[5]) == 4 ? 1 : atoi(f[5]);
    int same = !strcmp(got, want);
    CHECK(same && rc == want_rc, "%s %s: stdout %s, status %d (want %d)", f[0], f[1],
          same ? "identical" : "differs", rc, want_rc);
    if (strcmp(f[6], "-")) {
      /* trec_eval: "result qid 'Q' not found in qrels", Q the qrels topic
         missing from the run; ours must name the same topic. */
      path = join(dir, f[6]);
      char *e = slurp(path), topic[256] = "";
      free(path);
      char *q = e ? strstr(e, "qid '") : NULL;
      if (q) sscanf(q + 5, "%255[^']", topic);
      char needle[300];
      snprintf(needle, sizeof needle, "topic '%s'", topic);
      CHECK(topic[0] && strstr(err, needle), "%s %s: error names %s: '%s'", f[0], f[1], needle, err);
      free(e);
    }
    free(got);
    free(want);
  }
  CHECK(rows >= 29, "%d fixture rows checked", rows);
  free(cases);
  free(dir);
}

/* ---------------- hand-computed measures ---------------- */

static void test_hand_measures(void) {
  score_opts o;
  score_opts_default(&o);
  /* Topic 1: relevant r1, r2, r3 (r3 grade 2); ranking r1 n1 r2 n2 n3. */
  const char *q = "1 0 r1 1\n1 0 r2 1\n1 0 r3 2\n1 0 n1 0\n1 0 n2 0\n";
  const char *run = "1 Q0 r1 1 5 t\n1 Q0 n1 2 4 t\n1 Q0 r2 3 3 t\n1 Q0 n2 4 2 t\n1 Q0 n3 5 1 t\n";
  double ap = (1.0 + 2.0 / 3) / 3;
  CHECK(check_close(value_of(q, run, "map", "map", 0, &o), ap, 1e-15, 0), "map = (1 + 2/3)/3");
  CHECK(value_of(q, run, "P.2", "P_2", 0, &o) == 0.5, "P_2 = 1/2");
  CHECK(value_of(q, run, "recall.3", "recall_3", 0, &o) == 2.0 / 3, "recall_3 = 2/3");
  CHECK(value_of(q, run, "Rprec", "Rprec", 0, &o) == 2.0 / 3, "Rprec = 2/3");
  CHECK(value_of(q, run, "success.1", "success_1", 0, &o) == 1.0, "success_1 = 1");
  /* bpref: r1 above all non-relevant (1), r2 below one of min(R=3, N=2)=2 (1 - 1/2). */
  CHECK(value_of(q, run, "bpref", "bpref", 0, &o) == (1.0 + 0.5) / 3, "bpref = 1.5/3");
  double dcg = 1.0 / log2(2) + 1.0 / log2(4);
  double idcg = 2.0 / log2(2) + 1.0 / log2(3) + 1.0 / log2(4);
  CHECK(check_close(value_of(q, run, "ndcg", "ndcg", 0, &o), dcg / idcg, 1e-15, 0),
        "ndcg with grades as gains");
  o.relevance_level = 2;
  CHECK(value_of(q, run, "map", "map", 0, &o) == 0.0, "-l 2: only r3 is relevant, not retrieved");
  score_opts_default(&o);
  o.judged_only = 1;
  CHECK(value_of(q, run, "num_ret", "num_ret", 0, &o) == 4, "-J drops n3, absent from the qrels");
}

static void test_xtreme(void) {
  score_opts o;
  score_opts_default(&o);
  /* 5 relevant documents, k = 3: ranking r1 x r2 (r3 r4 r5 below k).
     precisions at hits within k: 1/1, 2/3; xtreme_map.3 = (1 + 2/3) / min(5, 3)
     while map_cut.3 = (1 + 2/3) / 5. */
  const char *q = "1 0 r1 1\n1 0 r2 1\n1 0 r3 1\n1 0 r4 1\n1 0 r5 1\n1 0 x 0\n";
  const char *run = "1 Q0 r1 1 9 t\n1 Q0 x 2 8 t\n1 Q0 r2 3 7 t\n1 Q0 r3 4 6 t\n";
  CHECK(check_close(value_of(q, run, "xtreme_map.3", "xtreme_map_3", 0, &o), (1 + 2.0 / 3) / 3,
                    1e-15, 0),
        "xtreme_map_3 divides by min(num_rel, k) = 3");
  CHECK(check_close(value_of(q, run, "map_cut.3", "map_cut_3", 0, &o), (1 + 2.0 / 3) / 5, 1e-15,
                    0),
        "map_cut_3 divides by num_rel = 5");
  /* Fewer relevant than k: both divide by num_rel. */
  const char *q2 = "1 0 r1 1\n1 0 r2 1\n";
  const char *run2 = "1 Q0 x 1 9 t\n1 Q0 r2 2 8 t\n1 Q0 r1 3 1 t\n";
  double v1 = value_of(q2, run2, "xtreme_map.20", "xtreme_map_20", 0, &o);
  double v2 = value_of(q2, run2, "map_cut.20", "map_cut_20", 0, &o);
  CHECK(check_close(v1, (0.5 + 2.0 / 3) / 2, 1e-15, 0) && v1 == v2,
        "num_rel <= k: xtreme_map = map_cut = (1/2 + 2/3)/2");
  /* Ties: r (relevant) and x tie at the top; docid descending puts x first. */
  const char *q3 = "1 0 r 1\n2 0 r 1\n";
  const char *run3 = "1 Q0 r 1 5 t\n1 Q0 x 2 5 t\n2 Q0 r 1 5 t\n2 Q0 a 2 5 t\n";
  CHECK(value_of(q3, run3, "acc.1", "acc_1", 0, &o) == 0.0, "tie at the top: x > r, acc_1 = 0");
  CHECK(value_of(q3, run3, "acc.1", "acc_1", 1, &o) == 1.0, "tie at the top: r > a, acc_1 = 1");
  CHECK(value_of(q3, run3, "acc.1", "acc_1", -1, &o) == 0.5, "mean acc_1 over two topics = 0.5");
  CHECK(check_close(value_of(q3, run3, "xtreme_map.1", "xtreme_map_1", 0, &o), 0.0, 0, 0) &&
            value_of(q3, run3, "xtreme_map.2", "xtreme_map_2", 0, &o) == 0.5,
        "tie: xtreme_map_1 = 0, xtreme_map_2 = (1/2)/min(1,2) = 0.5");
  /* A topic without relevant documents scores 0. */
  CHECK(value_of("1 0 a 0\n", "1 Q0 a 1 1 t\n", "xtreme_map.5", "xtreme_map_5", 0, &o) == 0.0,
        "no relevant document: xtreme_map 0");
}

static void test_selection(void) {
  score_selection sel = {0};
  char err[256];
  CHECK(score_select(&sel, "P.10,5", err, sizeof err) == 0 &&
            score_select(&sel, "iprec_at_recall.0.5", err, sizeof err) == 0 &&
            score_select(&sel, "map", err, sizeof err) == 0,
        "select P.10,5, iprec_at_recall.0.5, map");
  score_select_finish(&sel);
  CHECK(sel.nsel == 3 && !strcmp(sel.sel[0].m->name, "map") && !strcmp(sel.sel[1].names[0], "iprec_at_recall_0.50") &&
            !strcmp(sel.sel[2].names[0], "P_5") && !strcmp(sel.sel[2].names[1], "P_10"),
        "table order, cutoffs sorted, names P_5 and iprec_at_recall_0.50");
  CHECK(sel.ncols == 4, "4 value columns");
  score_selection_free(&sel);
  CHECK(score_select(&sel, "nope", err, sizeof err) == -1 && strstr(err, "unknown measure"),
        "unknown measure: '%s'", err);
  CHECK(score_select(&sel, "P.5,5", err, sizeof err) == -1, "a cutoff given twice is refused");
  CHECK(score_select(&sel, "P.0", err, sizeof err) == -1, "cutoff 0 is refused");
  CHECK(score_select(&sel, "map.5", err, sizeof err) == -1 && strstr(err, "no parameters"),
        "map takes no parameters: '%s'", err);
  CHECK(score_select(&sel, "utility.1,2", err, sizeof err) == -1, "utility needs 4 parameters");
  CHECK(score_select(&sel, "all_trec", err, sizeof err) == 0 && sel.nsel == 37,
        "all_trec selects 37 measures (%d)", sel.nsel);
  score_selection_free(&sel);
  /* relstring.N and -c's empty rankings. */
  score_opts o;
  score_opts_default(&o);
  loaded L;
  load_text(&L, "1 0 a 12\n1 0 b -1\n1 0 c 0\n2 0 z 1\n", "1 Q0 a 1 9 t\n1 Q0 b 2 8 t\n1 Q0 x 3 7 t\n1 Q0 c 4 6 t\n");
  score_select(&sel, "relstring.3", err, sizeof err);
  score_select(&sel, "num_rel", err, sizeof err);
  score_select(&sel, "map", err, sizeof err);
  score_select_finish(&sel);
  score_result r;
  CHECK(score_evaluate(&L.set, &L.run, &sel, &o, &r, err, sizeof err) == -1 && r.ntopics == 1 &&
            strstr(err, "topic '2'"),
        "without -c a missing topic stops the evaluation after the topics before it");
  CHECK(r.str[0 * r.nsel + 2] && !strcmp(r.str[2], ">.-"), "relstring.3 = '>.-' ('%s')", r.str[2] ? r.str[2] : "");
  score_result_free(&r);
  o.complete = 1;
  CHECK(score_evaluate(&L.set, &L.run, &sel, &o, &r, err, sizeof err) == 0 && r.ntopics == 2 &&
            r.v[1 * r.ncols + 0] == 1 && r.v[1 * r.ncols + 1] == 0 && !strcmp(r.str[1 * r.nsel + 2], ""),
        "-c: the missing topic has num_rel 1, map 0, relstring ''");
  score_result_free(&r);
  score_selection_free(&sel);
  unload(&L);
}

/* ---------------- statistics ---------------- */

static void test_stats(void) {
  CHECK(check_close(score_betainc(2, 3, 0.4), 0.5248, 1e-13, 0), "I_0.4(2,3) = 0.5248 (binomial)");
  CHECK(check_close(score_betainc(7.5, 7.5, 0.5), 0.5, 1e-14, 0), "I_0.5(a,a) = 1/2");
  CHECK(check_close(score_betainc(1, 1, 0.3), 0.3, 1e-14, 0), "I_x(1,1) = x");
  CHECK(check_close(score_betainc(0.5, 0.5, 0.25), 1.0 / 3, 1e-13, 0),
        "I_0.25(1/2,1/2) = 2/pi asin(1/2) = 1/3");
  CHECK(check_close(score_t_pvalue(1.0, 1), 0.5, 1e-13, 0), "t=1, df=1 (Cauchy): p = 0.5");
  CHECK(check_close(score_t_pvalue(2.0, 2), 1 - 2 / sqrt(6.0), 1e-13, 0),
        "t=2, df=2: p = 1 - 2/sqrt(6)");
  CHECK(check_close(score_t_pvalue(2.228138851986274, 10), 0.05, 0, 1e-9), "t_0.975(10): p = 0.05");
  CHECK(check_close(score_t_pvalue(2.570581835636314, 5), 0.05, 0, 1e-9), "t_0.975(5): p = 0.05");
  CHECK(check_close(score_t_pvalue(-3.169272672616951, 10), 0.01, 0, 1e-8), "t_0.995(10): p = 0.01");
  CHECK(check_close(score_t_pvalue(1.959963984540054, 1e7), 0.05, 0, 1e-6),
        "large df tends to the normal: p(1.96) = 0.05");
  CHECK(score_t_pvalue(0, 7) == 1.0, "t = 0: p = 1");

  double a[10] = {0}, b[10];
  for (int i = 0; i < 10; i++) b[i] = 0.1 + 0.01 * i;
  double t;
  double pt = score_paired_t(a, b, 10, &t);
  CHECK(pt < 1e-6 && t > 0, "paired t: consistent improvement, p = %.3g", pt);
  double pr = score_paired_randomization(a, b, 10, 10000, 7);
  /* Exact: only the identity and the full flip are as extreme: 2/1024. */
  CHECK(pr > 0.001 && pr < 0.004, "randomization p = %.4f near 2/1024", pr);
  CHECK(pr == score_paired_randomization(a, b, 10, 10000, 7), "randomization test is seeded");
  double c[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, d[6] = {0.2, 0.1, 0.4, 0.3, 0.6, 0.5};
  CHECK(score_paired_t(c, d, 6, NULL) > 0.5, "paired t: mixed differences, large p");
  CHECK(score_paired_randomization(c, c, 6, 1000, 1) == 1.0, "identical runs: p = 1");
}

int main(void) {
  test_parse_score();
  test_parse_errors();
  test_ranking_order();
  test_trec_eval_fixture();
  test_hand_measures();
  test_xtreme();
  test_selection();
  test_stats();
  return check_done();
}
