/* score.h: trec_eval 10's evaluation over the inputs of trec.h, its output,
 * and the comparisons `score` adds (paired tests, groups).
 *
 * As trec_eval: topics are those of the relevance information, in strcmp
 * order of qid; run topics without judgements are ignored. A judged topic
 * without run lines is an error unless `complete` (-c), which evaluates it
 * over trec_eval's stand-in ranking (one unjudged document) and then zeroes
 * num_ret, utility, relstring, unj and rbp_resid, as trec_eval does. A
 * ranking is a topic's documents by score descending (ties: docid
 * descending; ascending for prefs), cut to max_docs (-M); with judged_only
 * (-J) documents without a grade >= 0 are then dropped. A grade >= the
 * relevance level (-l) is relevant; a negative grade is pooled but unjudged.
 * Each measure is one file in eval/measures/ (see measure.h), listed in
 * eval/measures.c in trec_eval's order, which is the printing order.
 *
 * Differences from trec_eval are deliberate and listed in `score --help`.
 */
#ifndef OTC_SCORE_H
#define OTC_SCORE_H

#include <stdint.h>
#include <stdio.h>

#include "eval/measure.h"
#include "eval/trec.h"

typedef struct {
  long relevance_level;   /* -l: grade >= this is relevant (default 1) */
  long max_docs;          /* -M: documents kept per topic (default LONG_MAX) */
  int judged_only;        /* -J */
  int complete;           /* -c */
  long num_docs_in_coll;  /* -N: collection size, for utility's 4th term */
  const char *only_qid;   /* -D N.QID: evaluate this topic only */
  int compat;             /* --compat: trec_eval's reading of the rest */
} score_opts;

void score_opts_default(score_opts *o);

/* ---- the measures (eval/measures.c) ---- */
extern const score_measure *const score_measures[];
extern const int score_num_measures;
int score_measure_index(const char *name); /* -1 if unknown */
char *score_measures_help(void);           /* the manual's list (allocated) */
typedef struct {
  const char *name;
  const char *const *measures; /* NULL-terminated */
} score_nickname;
extern const score_nickname score_nicknames[]; /* official, set, all_trec, ...; {NULL} ends */

/* ---- selection: -m arguments, as trec_eval reads them ---- */
typedef struct {
  unsigned char *marked;    /* [score_num_measures] */
  char **arg_name, **arg_params; /* every NAME.PARAMS given, in order */
  int nargs;
  int any;                  /* an -m was given */
  score_sel *sel;           /* after finish: the measures, in table order */
  int nsel;
  int ncols;                /* values per topic over all measures */
} score_selection;

/* One -m argument: NAME, NAME.PARAMS, or a nickname (NICK.PARAMS too). A
 * measure named several times is one measure; its parameters are those of
 * the first NAME.PARAMS naming it, as in trec_eval (-m P.10 -m P.5 gives
 * P_10; -m P.5 -m P gives P_5). 0, or -1 with err: unknown name, empty
 * parameters. */
int score_select(score_selection *s, const char *arg, char *err, size_t errlen);
/* Read each selected measure's parameters (default: the official set when
 * no -m was given). Cutoffs are read as trec_eval's atol/atof read them
 * (ndcg_cut.23.4 is ndcg_cut_23); by default text that is not a number is
 * refused, with compat it reads as trec_eval reads it. -1 with err on bad
 * parameters (naming the measure). */
int score_select_finish(score_selection *s, int compat, char *err, size_t errlen);
void score_selection_free(score_selection *s);

/* ---- evaluation ---- */
typedef struct {
  uint32_t ntopics;         /* rows: topics evaluated, in order */
  uint32_t *topic;          /* trec_set topic of each row */
  double *v;                /* [ntopics][ncols] (Z-scores with -Z) */
  char **str;               /* [ntopics][nsel]: string values (relstring) */
  int nsel, ncols;
  const char *runid;
  const trec_set *set;      /* the qids */
  uint32_t num_q_rels;      /* topics with relevance information */
  long num_rel_pos;         /* their judgements with grade > 0 (-c num_rel) */
  int complete, zscores;
} score_result;

/* Evaluate a run: every topic, or nothing (-1 with err: a measure the
 * relevance format cannot give, a judged topic missing from the run without
 * -c, a docid twice in a ranking, no topic to evaluate). z: -Z, or NULL. */
int score_evaluate(const trec_set *s, const trec_run *run, const score_selection *sel,
                   const score_opts *o, const trec_zscores *z, score_result *res, char *err,
                   size_t errlen);
void score_result_free(score_result *r);

/* trec_eval's output: "%-22s\t%s\t%6.4f" (counts %ld; with -Z a "Z" before
 * every name, counts as reals). Every topic's lines (-q, per_topic), then
 * the summary labelled `all` (unless -n): */
void score_print(FILE *f, const score_selection *sel, const score_result *r, int per_topic, int summary);
/* One topic's lines: */
void score_print_topic(FILE *f, const score_selection *sel, const score_result *r, uint32_t row);
/* Summary lines over rows[0..nrows) (all rows when rows is NULL, with -c's
 * rules for num_q, num_rel and the means), labelled `label`. */
void score_print_summary(FILE *f, const score_selection *sel, const score_result *r,
                         const uint32_t *rows, uint32_t nrows, const char *label);
/* The summary value of one column over rows (as score_print_summary). */
double score_summary_value(const score_sel *m, const score_result *r, int col,
                           const uint32_t *rows, uint32_t nrows);

/* ---- comparisons (eval/report.c) ---- */
/* --compare: per value of the mean and sum measures, a line
   MEASURE<TAB>mean_a<TAB>mean_b<TAB>b-a<TAB>p_t<TAB>p_rand after a header. */
void score_print_compare(FILE *f, const score_selection *sel, const score_result *a,
                         const score_result *b, long perms, uint64_t seed);

/* --groups: lines `qid<TAB>group`; every evaluated topic needs a group. */
typedef struct {
  char **name;              /* groups in strcmp order */
  uint32_t n;
  uint32_t *of_row;         /* group of each result row */
} score_groups;
int score_groups_load(score_groups *g, const char *path, const trec_set *s, const score_result *res,
                      char *err, size_t errlen);
int score_groups_parse(score_groups *g, const char *buf, size_t len, const char *name,
                       const trec_set *s, const score_result *res, char *err, size_t errlen);
/* Each group's summary (label group=NAME), then `macro`: the unweighted
   mean of the group means (mean-type measures). */
void score_print_groups(FILE *f, const score_selection *sel, const score_result *res,
                        const score_groups *g);
void score_groups_free(score_groups *g);

/* ---- statistics (eval/score_stats.c) ---- */
/* Regularized incomplete beta I_x(a, b). */
double score_betainc(double a, double b, double x);
/* Two-sided p-value of Student's t with df degrees of freedom. */
double score_t_pvalue(double t, double df);
/* Paired t-test of a[i] vs b[i]: two-sided p (1 if all differences are 0). */
double score_paired_t(const double *a, const double *b, int n, double *t_out);
/* Paired randomization (sign-flip) test of the mean difference: two-sided
 * p = (1 + #{|mean of flipped diffs| >= |observed|}) / (1 + perms). */
double score_paired_randomization(const double *a, const double *b, int n, long perms,
                                  uint64_t seed);

#endif
