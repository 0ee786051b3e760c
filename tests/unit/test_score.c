/* test_score.c: TREC inputs in trec_eval's formats, the measures against
 * trec_eval's own output (every row of fixtures/trec_eval/cases.tsv), hand
 * computed values, selection (-m) as trec_eval reads it, preferences,
 * Z-scores, groups, and the significance tests. The quicktest of trec_eval
 * itself runs in tests/bats/score.bats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/rng.h"
#include "base/util.h"
#include "eval/prefs.h"
#include "eval/score.h"
#include "eval/trec.h"

/* ---------------- helpers ---------------- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0, k;
  char *b = xmalloc(cap);
  while ((k = fread(b + n, 1, cap - n, f)) > 0)
    if ((n += k) == cap) b = xrealloc(b, cap *= 2);
  fclose(f);
  b[n] = 0;
  return b;
}

static char *join(const char *dir, const char *file) {
  char *p = xmalloc(strlen(dir) + strlen(file) + 2);
  sprintf(p, "%s/%s", dir, file);
  return p;
}

/* Drop lines whose first field is `rbp` (the fixture drops them: trec_eval
   10 prints garbage there). */
static void drop_rbp(char *s) {
  char *w = s, *p = s;
  while (*p) {
    char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
    if (strncmp(p, "rbp ", 4) && strncmp(p, "rbp\t", 4)) {
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
  char err[1024];
} loaded;

static int load_fmt(loaded *L, const char *rel, trec_format fmt, const char *run, int compat) {
  memset(L, 0, sizeof *L);
  trec_set_init(&L->set);
  trec_run_init(&L->run, "run");
  if (trec_relinfo_parse(&L->set, rel, strlen(rel), "qrels", fmt, compat, L->err, sizeof L->err)) return -1;
  size_t n = strlen(run);
  trec_buf b = {.p = xmalloc(n + 1), .len = n};
  memcpy(b.p, run, n + 1);
  if (trec_run_parse_owned(&L->set, &L->run, &b, compat, L->err, sizeof L->err)) return -1;
  return trec_run_finish(&L->set, &L->run, L->err, sizeof L->err);
}

static int load_text(loaded *L, const char *qrels, const char *run) { return load_fmt(L, qrels, TREC_QRELS, run, 0); }

static void unload(loaded *L) {
  trec_run_free(&L->run);
  trec_set_free(&L->set);
}

/* Value `name` (a printed name such as "P_5") of topic row `row`, or of the
   summary when row < 0; NAN on any error. */
static double value_fmt(const char *rel, trec_format fmt, const char *run, const char *measures, const char *name,
                        int row, const score_opts *o) {
  loaded L;
  double v = NAN;
  score_selection sel = {0};
  char err[256], buf[256];
  snprintf(buf, sizeof buf, "%s", measures);
  for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
    if (score_select(&sel, tok, err, sizeof err)) printf("# select: %s\n", err);
  score_opts def;
  score_opts_default(&def);
  score_result r;
  if (load_fmt(&L, rel, fmt, run, 0)) {
    printf("# load: %s\n", L.err);
  } else if (score_select_finish(&sel, 0, err, sizeof err) ||
             score_evaluate(&L.set, &L.run, &sel, o ? o : &def, NULL, &r, err, sizeof err)) {
    printf("# evaluate: %s\n", err);
  } else {
    for (int m = 0; m < sel.nsel; m++)
      for (int i = 0; i < sel.sel[m].nvalues; i++)
        if (!strcmp(sel.sel[m].names[i], name))
          v = row < 0 ? score_summary_value(&sel.sel[m], &r, sel.sel[m].col + i, NULL, 0)
                      : r.v[(size_t)row * (size_t)r.ncols + (size_t)(sel.sel[m].col + i)];
    score_result_free(&r);
  }
  score_selection_free(&sel);
  unload(&L);
  return v;
}

static double value_of(const char *qrels, const char *run, const char *measures, const char *name, int row,
                       const score_opts *o) {
  return value_fmt(qrels, TREC_QRELS, run, measures, name, row, o);
}

/* ---------------- parsing ---------------- */

static void test_parse_score(void) {
  static const struct {
    const char *s;
    double v;
  } ok[] = {{"1", 1.0},     {"1.0", 1.0},   {"1e0", 1.0},     {"+1", 1.0},         {".1e1", 1.0},
            {"-0", -0.0},   {"-2.5", -2.5}, {"1e-300", 1e-300}, {"0x1p3", 8.0},   {"4.474176e-08", 4.474176e-08},
            {"12.740586302334316", 12.740586302334316}, {"1.", 1.0}, {"00012", 12.0}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    double v = -1;
    int rc = trec_parse_score(ok[i].s, ok[i].s + strlen(ok[i].s), 0, &v);
    CHECK(rc == 0 && v == ok[i].v && signbit(v) == signbit(ok[i].v), "score '%s' parses as %.17g", ok[i].s, ok[i].v);
  }
  static const char *bad[] = {"abc", "1e", ".", "nan", "", "1.5x", "--1", "1e+", "inf", "-inf", "1e999", "-1e400"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double v;
    CHECK(trec_parse_score(bad[i], bad[i] + strlen(bad[i]), 0, &v) == -1, "score '%s' is refused", bad[i]);
  }
  /* --compat: atof's reading, whatever the text. */
  static const struct {
    const char *s;
    double v;
  } compat[] = {{"1.5abc", 1.5}, {"abc", 0.0}, {"1e999", INFINITY}, {"-inf", -INFINITY}, {"1e", 1.0}, {"", 0.0}};
  for (size_t i = 0; i < sizeof compat / sizeof compat[0]; i++) {
    double v = -7;
    CHECK(trec_parse_score(compat[i].s, compat[i].s + strlen(compat[i].s), 1, &v) == 0 && v == compat[i].v,
          "--compat: score '%s' reads as atof's %g", compat[i].s, compat[i].v);
  }
  double nanv;
  CHECK(trec_parse_score("nan", "nan" + 3, 1, &nanv) == 0 && isnan(nanv), "--compat: 'nan' reads as NaN");
  /* Exactness against strtod: ties depend on the exact double. */
  rng_t r;
  rng_seed(&r, 42);
  int mismatches = 0, n = 200000;
  char buf[64];
  for (int i = 0; i < n; i++) {
    int nd = 1 + (int)rng_below(&r, 20), dot = (int)rng_below(&r, (uint64_t)nd + 1), k = 0;
    if (rng_below(&r, 4) == 0) buf[k++] = '-';
    for (int d = 0; d < nd; d++) {
      if (d == dot && d > 0) buf[k++] = '.';
      buf[k++] = (char)('0' + rng_below(&r, 10));
    }
    if (rng_below(&r, 3) == 0) k += sprintf(buf + k, "e%d", (int)rng_below(&r, 80) - 40);
    buf[k] = 0;
    double want = strtod(buf, NULL), got;
    if ((trec_parse_score(buf, buf + k, 0, &got) || memcmp(&got, &want, sizeof got)) && mismatches++ < 5)
      printf("# mismatch: '%s' -> %.17g, strtod %.17g\n", buf, got, want);
  }
  for (int i = 0; i < n; i++) {
    double x = (rng_uniform(&r) - 0.3) * pow(10, (int)rng_below(&r, 12) - 4), got;
    int k = sprintf(buf, "%.17g", x);
    if ((trec_parse_score(buf, buf + k, 0, &got) || got != x) && mismatches++ < 5)
      printf("# mismatch: '%s' -> %.17g\n", buf, got);
  }
  CHECK(mismatches == 0, "%d random scores parse bit-identically to strtod", 2 * n);
}

static void test_parse_errors(void) {
  loaded L;
  CHECK(load_text(&L, "1 0 d1 1\n1 0 d2\n", "1 Q0 d1 1 1 t\n") == -1 && strstr(L.err, "qrels: line 2:") &&
            strstr(L.err, "4 fields"),
        "qrels with 3 fields: '%s'", L.err);
  unload(&L);
  CHECK(load_text(&L, "1 0 d1 1\n\n# comment\n   # indented comment\n1 0 d2 x\n", "1 Q0 d1 1 1 t\n") == -1 &&
            strstr(L.err, "line 5:") && strstr(L.err, "not an integer"),
        "blank and comment lines are skipped; a grade not an integer is refused: '%s'", L.err);
  unload(&L);
  CHECK(load_fmt(&L, "1 0 d1 1.7\n", TREC_QRELS, "1 Q0 d1 1 1 t\n", 1) == 0 && trec_grade(&L.set, 0, "d1", 2) == 1,
        "--compat reads grade '1.7' as atol does: 1");
  unload(&L);
  CHECK(load_text(&L, "1 0 d1 1\n2 0 d1 0\n1 0 d2 0\n1 0 d1 2\n", "1 Q0 d1 1 1 t\n") == -1 &&
            strstr(L.err, "line 4:") && strstr(L.err, "'d1'") && strstr(L.err, "(line 1)"),
        "docid judged twice in one topic: '%s'", L.err);
  unload(&L);
  CHECK(load_fmt(&L, "1 a d1 1\n1 b d1 0\n1 a d1 2\n", TREC_QRELS_JG, "1 Q0 d1 1 1 t\n", 0) == -1 &&
            strstr(L.err, "line 3:") && strstr(L.err, "judgement group 'a'"),
        "qrels_jg: a docid twice in one jg is refused, in two jgs allowed: '%s'", L.err);
  unload(&L);
  CHECK(load_text(&L, "", "1 Q0 d1 1 1 t\n") == -1 && strstr(L.err, "qrels: cannot read qrels file"),
        "an empty qrels file is refused: '%s'", L.err);
  unload(&L);
  CHECK(load_text(&L, "# only a comment\n\n", "1 Q0 d1 1 1 t\n") == -1 && strstr(L.err, "no judgement lines"),
        "a qrels file of comments is refused too: '%s'", L.err);
  unload(&L);
  CHECK(load_text(&L, "1 0 d1 1\n", "# nothing\n") == -1 && strstr(L.err, "run: cannot read run"),
        "a run without run lines is refused: '%s'", L.err);
  unload(&L);
  CHECK(load_text(&L, "1 0 d1 1\n", "1 Q0 d1 1 2.0 t\n1 Q0 d2 2 1.0\n") == -1 && strstr(L.err, "run: line 2:") &&
            strstr(L.err, "6 fields"),
        "run line with 5 fields: '%s'", L.err);
  unload(&L);
  CHECK(load_text(&L, "1 0 d1 1\n", "1 Q0 d1 1 2.0 t\n\n1 Q0 d2 2 1e999 t\n") == -1 && strstr(L.err, "run: line 3:") &&
            strstr(L.err, "'1e999'"),
        "a score beyond the double range is refused like nan: '%s'", L.err);
  unload(&L);
  trec_set s;
  char err[256];
  trec_set_init(&s);
  CHECK(trec_relinfo_parse(&s, "1 0 a 1\n1 0 b\0001\n", 17, "q", TREC_QRELS, 0, err, sizeof err) == -1 &&
            strstr(err, "NUL byte"),
        "a NUL byte in a file is an error: '%s'", err);
  trec_set_free(&s);
  CHECK(load_text(&L, "1 0 d1 1\n", "# c\n\n1 Q0 d1 1 2.0 t extra fields\n") == 0 && L.run.n == 1 &&
            !strcmp(L.run.tag, "t"),
        "comments, blank lines and extra fields are accepted");
  unload(&L);
}

static int cmp_int_trunc(const void *a, const void *b, void *ctx) {
  return (int)((*(const double *)a - *(const double *)b));
}

static void test_ranking_order(void) {
  loaded L;
  load_text(&L, "1 0 d1 1\n",
            "1 Q0 d1 1 1 t\n1 Q0 d10 2 1.0 t\n1 Q0 d9 3 1e0 t\n1 Q0 x 9 +1 t\n1 Q0 a 4 .1e1 t\n"
            "1 Q0 top 5 2 t\n1 Q0 neg 1 -1 t\n");
  trec_sort_ranking(L.run.e, L.run.n, TREC_TIES_DESC);
  const char *want[] = {"top", "x", "d9", "d10", "d1", "a", "neg"};
  int ok = L.run.n == 7;
  for (size_t i = 0; ok && i < L.run.n; i++)
    ok = L.run.e[i].docid_len == strlen(want[i]) && !memcmp(L.run.e[i].docid, want[i], L.run.e[i].docid_len);
  CHECK(ok, "ties broken by docid in descending strcmp order");
  trec_sort_ranking(L.run.e, L.run.n, TREC_TIES_ASC);
  CHECK(!memcmp(L.run.e[1].docid, "a", 1) && !memcmp(L.run.e[2].docid, "d1", 2), "prefs: ties by docid ascending");
  unload(&L);
  /* NaN (--compat): trec_eval's qsort over docid-sorted lines decides. */
  load_fmt(&L, "1 0 a 1\n", TREC_QRELS, "1 Q0 a 1 1.5 t\n1 Q0 b 2 nan t\n", 1);
  trec_sort_ranking(L.run.e, L.run.n, TREC_TIES_DESC);
  CHECK(L.run.e[0].docid[0] == 'b', "NaN ranks where trec_eval's merge leaves it (b before a)");
  unload(&L);
  /* trec_msort is glibc's merge: with a comparator that is not an order
     (gains as (int)(a - b): 4.5 'equals' 4 and 5) the input order decides. */
  double g[] = {4.5, 5.0, 4.0, 0.0}, want_g[] = {0.0, 4.5, 4.0, 5.0};
  trec_msort(g, 4, sizeof *g, cmp_int_trunc, NULL);
  CHECK(!memcmp(g, want_g, sizeof g), "trec_msort: %g %g %g %g", g[0], g[1], g[2], g[3]);

  score_opts o;
  score_opts_default(&o);
  CHECK(value_of("1 0 d1 1\n", "1 Q0 d1 1 1 t\n1 Q0 d10 2 1.0 t\n1 Q0 d9 3 1e0 t\n", "recip_rank", "recip_rank", 0,
                 &o) == 1.0 / 3,
        "a relevant d1 tied with d9 and d10 ranks third");
  CHECK(isnan(value_of("1 0 d1 1\n", "1 Q0 d1 1 1 t\n1 Q0 d1 2 0.5 t\n", "map", "map", 0, &o)),
        "a docid twice in one topic is an error");
  o.max_docs = 1;
  CHECK(value_of("1 0 d1 1\n", "1 Q0 d1 1 1 t\n1 Q0 d1 2 0.5 t\n", "map", "map", 0, &o) == 1.0,
        "with -M 1 a duplicate below the cut is not seen (trec_eval 10)");
}

/* ---------------- trec_eval's fixture ---------------- */

/* Run one cases.tsv row through the library as bin/score does: its stdout,
   *rc 0, or 1 where evaluation failed (trec_eval's exit 4). */
static char *run_case(const char *dir, char *args, const char *qrels, const char *run, int *rc, char *err,
                      size_t errlen) {
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
  score_select_finish(&sel, 0, err, errlen);
  trec_set s;
  trec_set_init(&s);
  trec_run r;
  trec_buf b;
  char *qpath = join(dir, qrels), *rpath = join(dir, run);
  trec_run_init(&r, rpath);
  *rc = trec_relinfo_load(&s, qpath, TREC_QRELS, 0, err, errlen) || trec_read_file(rpath, &b, err, errlen) ||
                trec_run_parse_owned(&s, &r, &b, 0, err, errlen) || trec_run_finish(&s, &r, err, errlen)
            ? 2
            : 0;
  free(qpath);
  free(rpath);
  char *out = NULL;
  size_t outlen = 0;
  FILE *f = open_memstream(&out, &outlen);
  score_result res;
  if (!*rc && score_evaluate(&s, &r, &sel, &o, NULL, &res, err, errlen)) *rc = 1;
  else if (!*rc) score_print(f, &sel, &res, per_topic, 1), score_result_free(&res);
  fclose(f);
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
  int rows = 0;
  char *save = NULL;
  for (char *line = cases ? strtok_r(cases, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
    if (!strncmp(line, "case\t", 5)) continue;
    char *f[7];
    int nf = 0;
    for (char *p = line; nf < 7 && p; nf++) {
      f[nf] = p;
      p = strchr(p, '\t');
      if (p) *p++ = 0;
    }
    if (nf != 7) continue;
    rows++;
    char args[512], err[1024];
    snprintf(args, sizeof args, "%s", f[1]);
    int rc, want_rc = atoi(f[5]) == 4 ? 1 : atoi(f[5]);
    char *got = run_case(dir, args, f[2], f[3], &rc, err, sizeof err);
    path = join(dir, f[4]);
    char *want = slurp(path);
    free(path);
    if (!want || want_rc) { /* on an error nothing is printed (trec_eval -q printed some topics) */
      free(want);
      want = xstrdup("");
    }
    drop_rbp(got);
    drop_rbp(want);
    int same = !strcmp(got, want);
    CHECK(same && rc == want_rc, "%s %s: stdout %s, status %d (want %d)", f[0], f[1], same ? "identical" : "differs",
          rc, want_rc);
    if (strcmp(f[6], "-")) {
      /* trec_eval: "result qid 'Q' not found in qrels", Q the judged topic
         missing from the run; ours must name the same topic. */
      path = join(dir, f[6]);
      char *e = slurp(path), topic[256] = "", needle[300];
      free(path);
      char *q = e ? strstr(e, "qid '") : NULL;
      if (q) sscanf(q + 5, "%255[^']", topic);
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

static void test_trec_eval_rules(void) {
  score_opts o;
  score_opts_default(&o);
  const char *q = "1 0 r1 1\n1 0 r2 2\n1 0 n 0\n1 0 u -1\n";
  const char *run = "1 Q0 r1 1 5 t\n1 Q0 x 2 4 t\n1 Q0 u 3 3 t\n1 Q0 r2 4 2 t\n";
  /* -l -1: trec_eval counts num_rel_ret only among judged documents. */
  o.relevance_level = -1;
  CHECK(value_of(q, run, "num_rel_ret", "num_rel_ret", 0, &o) == 2 && value_of(q, run, "P.4", "P_4", 0, &o) == 0.75,
        "-l -1: num_rel_ret counts judged documents (2) while P_4 counts x too (3/4)");
  score_opts_default(&o);
  /* -c: num_rel in the summary counts grades > 0 whatever -l is. */
  o.complete = 1;
  o.relevance_level = 2;
  CHECK(value_of(q, run, "num_rel", "num_rel", -1, &o) == 2 && value_of(q, run, "num_rel", "num_rel", 0, &o) == 1,
        "-c -l 2: summary num_rel 2 (grades > 0), topic num_rel 1");
  score_opts_default(&o);
  /* Rndcg with no positive gain (-l 0, all grades 0) is 0/0, as trec_eval. */
  o.relevance_level = 0;
  CHECK(isnan(value_of("1 0 a 0\n", "1 Q0 a 1 1 t\n", "Rndcg", "Rndcg", 0, &o)), "Rndcg 0/0 is NaN (-nan)");
  score_opts_default(&o);
  /* -c -J: trec_eval's stand-in ranking loses its document; iprec is 0/0. */
  o.complete = 1;
  o.judged_only = 1;
  CHECK(isnan(value_of("1 0 a 1\n2 0 b 1\n", "1 Q0 a 1 1 t\n", "iprec_at_recall.0", "iprec_at_recall_0.00", 1, &o)),
        "-c -J: iprec of a missing topic is NaN");
  score_opts_default(&o);
  /* gains: ndcg.1=3,2=9 */
  double dcg = 3.0 + 9.0 / log2(5), idcg = 9.0 + 3.0 / log2(3);
  CHECK(check_close(value_of(q, run, "ndcg.1=3,2=9", "ndcg_1=3,2=9", 0, &o), dcg / idcg, 1e-15, 0),
        "ndcg.1=3,2=9: gains 3 and 9");
  CHECK(value_of(q, run, "rbp.p=0.5", "rbp_p=0.5", 0, &o) == 0.5 * (0.5 + 0.125),
        "rbp.p=0.5: gains 1/2 and 1 (scaled by the top grade)");
  /* A topic judged only negatively: no grades here, the previous topic's
     with --compat (trec_eval), and an error when it is the first. */
  const char *qn = "1 0 a 2\n1 0 b 1\n2 0 a -1\n";
  const char *rn = "1 Q0 a 1 3 t\n2 Q0 a 1 3 t\n";
  CHECK(value_of(qn, rn, "ideal_dcg", "ideal_dcg", 1, &o) == 0.0, "negative-only topic: ideal_dcg 0");
  o.compat = 1;
  CHECK(check_close(value_of(qn, rn, "ideal_dcg", "ideal_dcg", 1, &o), 2 + 1 / log2(3), 1e-15, 0),
        "--compat: the previous topic's grades (trec_eval)");
  CHECK(isnan(value_of("0 0 a -1\n1 0 a 1\n", "0 Q0 a 1 3 t\n1 Q0 a 1 1 t\n", "ndcg", "ndcg", 0, &o)),
        "--compat: a negative-only first topic fails, as trec_eval");
}

static int names_are(const score_selection *s, const char *want) {
  char got[1024] = "";
  for (int m = 0; m < s->nsel; m++)
    for (int i = 0; i < s->sel[m].nvalues; i++) {
      strcat(got, s->sel[m].names[i]);
      strcat(got, " ");
    }
  if (strcmp(got, want)) printf("# names: '%s'\n", got);
  return !strcmp(got, want);
}

static int select_all(score_selection *s, const char *args, int compat, char *err, size_t errlen) {
  char buf[512];
  memset(s, 0, sizeof *s);
  snprintf(buf, sizeof buf, "%s", args);
  for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
    if (score_select(s, tok, err, errlen)) return -1;
  return score_select_finish(s, compat, err, errlen);
}

static void test_selection(void) {
  score_selection s;
  char err[256];
  CHECK(select_all(&s, "P.10,5 iprec_at_recall.0.5 map", 0, err, sizeof err) == 0 &&
            names_are(&s, "map iprec_at_recall_0.50 P_5 P_10 ") && s.ncols == 4,
        "table order, cutoffs sorted, names P_5 and iprec_at_recall_0.50");
  score_selection_free(&s);
  CHECK(select_all(&s, "P.10 P.5", 0, err, sizeof err) == 0 && names_are(&s, "P_10 "),
        "-m P.10 -m P.5: the first parameters win (P_10)");
  score_selection_free(&s);
  CHECK(select_all(&s, "P.5 P", 0, err, sizeof err) == 0 && names_are(&s, "P_5 "), "-m P.5 -m P: P_5");
  score_selection_free(&s);
  CHECK(select_all(&s, "relstring.20 set_F.0.5 utility.2,-1,0,0 11pt_avg..25,.5,.75 ndcg.1=3,2=9,4=4.5 rbp.p=0.5",
                   0, err, sizeof err) == 0 &&
            names_are(&s, "relstring_20 utility_2,-1,0,0 11pt_avg_.25,.5,.75 ndcg_1=3,2=9,4=4.5 set_F_0.5 rbp_p=0.5 "),
        "trec_eval's names of parameterised measures");
  score_selection_free(&s);
  CHECK(select_all(&s, "ndcg_cut.10,20,23.4 Rprec_mult.5.0,0.2,0.35", 0, err, sizeof err) == 0 &&
            names_are(&s, "Rprec_mult_0.20 Rprec_mult_0.35 Rprec_mult_5.00 ndcg_cut_10 ndcg_cut_20 ndcg_cut_23 "),
        "non-integer cutoffs read as atol reads them (23.4 is 23)");
  score_selection_free(&s);
  CHECK(select_all(&s, "all_trec", 0, err, sizeof err) == 0 && s.nsel == 37, "all_trec: 37 measures (%d)", s.nsel);
  score_selection_free(&s);
  CHECK(select_all(&s, "all_prefs", 0, err, sizeof err) == 0 && s.nsel == 16, "all_prefs: 16 measures (%d)", s.nsel);
  score_selection_free(&s);
  static const struct {
    const char *args, *want;
  } bad[] = {{"nope", "unknown measure"},   {"P.5,5", "twice"},         {"P.0", "positive"},
             {"map.5", "no parameters"},    {"utility.1,2", "4 coefficients"}, {"P.5x", "bad parameter"},
             {"ndcg.1=3,2", "malformed"},   {"P.", "empty parameter"},   {"set_F.abc", "bad parameter"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(select_all(&s, bad[i].args, 0, err, sizeof err) == -1 && strstr(err, bad[i].want), "-m %s refused: '%s'",
          bad[i].args, err);
    score_selection_free(&s);
  }
  CHECK(select_all(&s, "map.5 P.5x", 1, err, sizeof err) == 0 && names_are(&s, "map P_5 "),
        "--compat: map.5 ignores its parameter, P.5x reads as 5 (trec_eval)");
  score_selection_free(&s);
}

/* ---------------- preferences, judgement groups, Z-scores, groups ---------------- */

static void test_prefs(void) {
  /* One user, one subgroup: a(3) > b(2) > c(0); the run ranks c, a; b unretrieved. */
  const char *p = "1 u s a 3\n1 u s b 2\n1 u s c 0\n";
  const char *run = "1 Q0 c 1 9 t\n1 Q0 a 2 8 t\n1 Q0 z 3 7 t\n";
  /* Preferences a>b (a retrieved, b not: implied, fulfilled), a>c (both
     retrieved, c above a: not fulfilled), b>c (b not retrieved: implied,
     not fulfilled): 1 of 3. */
  CHECK(value_fmt(p, TREC_PREFS, run, "prefs_simp", "prefs_simp", 0, NULL) == 1.0 / 3, "prefs_simp = 1/3");
  CHECK(value_fmt(p, TREC_PREFS, run, "prefs_num_prefs_poss", "prefs_num_prefs_poss", 0, NULL) == 3,
        "3 preferences possible");
  CHECK(value_fmt(p, TREC_PREFS, run, "prefs_simp_ret", "prefs_simp_ret", 0, NULL) == 0.0,
        "between retrieved documents: a>c not fulfilled");
  /* Two subgroups: the preferences close transitively (a>b, b>c gives a>c). */
  const char *p2 = "1 u s1 a 2\n1 u s1 b 1\n1 u s2 b 2\n1 u s2 c 1\n";
  const char *run2 = "1 Q0 a 1 9 t\n1 Q0 b 2 8 t\n1 Q0 c 3 7 t\n";
  CHECK(value_fmt(p2, TREC_PREFS, run2, "prefs_num_prefs_poss", "prefs_num_prefs_poss", 0, NULL) == 3 &&
            value_fmt(p2, TREC_PREFS, run2, "prefs_simp", "prefs_simp", 0, NULL) == 1.0,
        "subgroups: a>b, b>c and the implied a>c, all fulfilled");
  CHECK(isnan(value_fmt("1 u s1 a 2\n1 u s1 b 1\n1 u s2 b 2\n1 u s2 a 1\n", TREC_PREFS, run2, "prefs_simp",
                        "prefs_simp", 0, NULL)),
        "contradictory preferences in one jg are an error (trec_eval aborts)");
  /* Three users, one subgroup each (their classes once overran a buffer:
     found by fuzz_trec): u fulfils 1 of 3 as above, v prefers c to a
     (fulfilled), w a to c (not). */
  const char *p3 = "1 u s a 3\n1 u s b 2\n1 u s c 0\n1 v s c 1\n1 v s a 0\n1 w s a 1\n1 w s c 0\n";
  CHECK(value_fmt(p3, TREC_PREFS, run, "prefs_avgjg", "prefs_avgjg", 0, NULL) == (1.0 / 3 + 1.0 + 0.0) / 3,
        "prefs_avgjg over three judgement groups = (1/3 + 1 + 0) / 3");
  /* A -1 grade read as a preference level sorts below the non-relevant
     class, so trec_eval's Rnonrel takes 2 "non-relevant" documents from a
     class of 1 and reads past it; here the class ends where it ends:
     4 of 13 (hand count in bench/results/score.md's terms). */
  CHECK(value_fmt("1 0 a 1\n1 0 e 2\n1 0 b 0\n1 0 c 0\n1 0 f 0\n1 0 d -1\n", TREC_QRELS_PREFS,
                  "1 Q0 b 1 3 t\n1 Q0 a 2 2 t\n", "prefs_avgjg_Rnonrel", "prefs_avgjg_Rnonrel", 0, NULL) == 4.0 / 13,
        "prefs_avgjg_Rnonrel with a level below 0 stays inside its class: 4/13");
  CHECK(isnan(value_fmt(p, TREC_QRELS_PREFS, run, "prefs_simp", "prefs_simp", 0, NULL)),
        "qrels_prefs takes 4 fields: a prefs file is refused");
  CHECK(isnan(value_fmt(p, TREC_PREFS, run, "map", "map", 0, NULL)), "map needs qrels: refused with -R prefs");
  /* qrels_jg: two users, map averaged over them. */
  const char *jg = "1 u1 a 1\n1 u1 b 0\n1 u2 b 1\n1 u2 a 0\n";
  const char *runjg = "1 Q0 a 1 9 t\n1 Q0 b 2 8 t\n";
  CHECK(value_fmt(jg, TREC_QRELS_JG, runjg, "map_avgjg", "map_avgjg", 0, NULL) == (1.0 + 0.5) / 2,
        "map_avgjg = (1 + 1/2) / 2");
}

static void test_zscores(void) {
  trec_zscores z;
  char err[256];
  const char *text = "2 recall_5 0.5 0.25\n1 map 0.2 0.1\n1 P_5 0.4 0\n# comment\n\n2 ndcg 0.1 0.1\n";
  CHECK(trec_zscores_parse(&z, text, strlen(text), "z", 0, err, sizeof err) == 0 && z.n == 4 && z.nq == 2,
        "Z-score file: 4 entries, 2 topics");
  CHECK(trec_zscore_convert(&z, "1", "map", 0.3) == (0.3 - 0.2) / 0.1, "(v - mean) / stddev");
  CHECK(trec_zscore_convert(&z, "1", "P_5", 0.4) == 0.0 && trec_zscore_convert(&z, "1", "P_5", 0.5) == -1000000,
        "a zero deviation: 0 at the mean, -1000000 elsewhere");
  CHECK(trec_zscore_convert(&z, "3", "map", 0.3) == -1000000 && trec_zscore_convert(&z, "2", "recall", 1) == -1000000,
        "missing topic or measure: -1000000");
  /* trec_eval's search looks one entry past topic 1's (P_5, map): topic 2's
     first, ndcg, is found for topic 1 too. */
  CHECK(trec_zscore_convert(&z, "1", "ndcg", 0.2) == 1.0, "trec_eval's off-by-one search, reproduced");
  trec_zscores_free(&z);
  CHECK(trec_zscores_parse(&z, "1 map x 1\n", 10, "z", 0, err, sizeof err) == -1 && strstr(err, "line 1"),
        "a bad mean is refused: '%s'", err);
  trec_zscores_free(&z);
}

static void test_groups(void) {
  loaded L;
  load_text(&L, "1 0 a 1\n2 0 b 1\n3 0 c 1\n", "1 Q0 a 1 1 t\n2 Q0 x 1 1 t\n3 Q0 c 1 1 t\n");
  score_selection s;
  char err[256];
  select_all(&s, "map num_q", 0, err, sizeof err);
  score_opts o;
  score_opts_default(&o);
  score_result r;
  score_evaluate(&L.set, &L.run, &s, &o, NULL, &r, err, sizeof err);
  score_groups g;
  const char *gt = "1\tde\n2\tfr\n3\tde\n";
  CHECK(score_groups_parse(&g, gt, strlen(gt), "g", &L.set, &r, err, sizeof err) == 0 && g.n == 2 &&
            g.of_row[0] == 0 && g.of_row[1] == 1,
        "groups de, fr");
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  score_print_groups(f, &s, &r, &g);
  fclose(f);
  CHECK(strstr(out, "map                   \tgroup=de\t1.0000\n") && strstr(out, "map                   \tmacro\t0.5000\n") &&
            strstr(out, "num_q                 \tgroup=de\t2\n"),
        "group summaries and their macro mean");
  free(out);
  score_groups_free(&g);
  static const struct {
    const char *text, *want;
  } bad[] = {{"1\tde\n2 fr\n3\tde\n", "line 2: expected qid<TAB>group"},
             {"1\tde\n2\tfr\n", "topic '3' has no group"},
             {"1\tde\n1\tfr\n2\tde\n3\tde\n", "in two groups"},
             {"1\tde\textra\n", "line 1"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(score_groups_parse(&g, bad[i].text, strlen(bad[i].text), "g", &L.set, &r, err, sizeof err) == -1 &&
              strstr(err, bad[i].want),
          "malformed groups refused: '%s'", err);
  score_result_free(&r);
  score_selection_free(&s);
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
  test_trec_eval_rules();
  test_xtreme();
  test_selection();
  test_prefs();
  test_zscores();
  test_groups();
  test_stats();
  return check_done();
}
