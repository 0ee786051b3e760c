/* score.h: trec_eval's measures over a trec_set (see trec.h), and the
 * statistics `score` reports when comparing runs.
 *
 * The evaluation follows trec_eval 10: topics are the qrels topics, taken in
 * strcmp order of qid; run topics without qrels are ignored; a qrels topic
 * without run lines is an error unless `complete` (-c), which scores it as an
 * empty ranking (every measure 0 except num_rel) counted in every mean.
 * A ranking is the run's documents for the topic sorted by score descending,
 * ties by docid descending (strcmp), cut to max_docs (-M); with judged_only
 * (-J) the documents absent from the qrels or with a negative grade are then
 * dropped. A grade at or above relevance_level (-l) is relevant; a negative
 * grade means pooled but unjudged (neither relevant nor non-relevant).
 *
 * One measure per file (lib/measure_NAME.c), all listed in one table
 * (lib/measures.c) in trec_eval's order, which is the printing order.
 */
#ifndef OTC_SCORE_H
#define OTC_SCORE_H

#include <stdint.h>
#include <stdio.h>

#include "eval/trec.h"

typedef struct {
  long relevance_level;   /* -l: grade >= this is relevant (default 1) */
  long max_docs;          /* -M: documents kept per topic (default LONG_MAX) */
  int judged_only;        /* -J */
  int complete;           /* -c */
  long num_docs_in_coll;  /* -N: collection size, for utility's 4th term */
} score_opts;

void score_opts_default(score_opts *o);

/* One topic's ranking as the measures see it (trec_eval's RES_RELS). */
typedef struct {
  const char *qid;
  long num_ret;             /* documents in the ranking (after -M, -J) */
  long num_rel;             /* judged with grade >= relevance_level */
  long num_rel_ret;         /* retrieved and relevant */
  long num_nonpool;         /* retrieved, absent from the qrels */
  long num_unjudged_in_pool;/* retrieved, negative grade in the qrels */
  const int32_t *rel;       /* [num_ret]: grade >= 0, TREC_NONPOOL or TREC_UNJUDGED */
  const long *rel_levels;   /* [num_rel_levels]: judged documents per grade */
  long num_rel_levels;      /* largest grade with a judgement + 1 (0 if none) */
  int missing;              /* no run line (-c): all measures 0 but num_rel */
} score_topic;

static inline int score_is_rel(const score_topic *t, const score_opts *o, long rank0) {
  return t->rel[rank0] >= o->relevance_level;
}

typedef enum {
  SP_NONE,          /* no parameters */
  SP_LONG_CUTS,     /* positive integer cutoffs: one value per cutoff, NAME_k */
  SP_DOUBLE_CUTS,   /* fractional cutoffs: one value per cutoff, NAME_%3.2f */
  SP_DOUBLES,       /* numeric parameters of a single value (utility, set_F, relstring) */
} score_param_kind;

typedef enum {
  SA_MEAN,          /* mean over topics, printed %6.4f */
  SA_SUM,           /* sum over topics, printed %ld (counts) */
  SA_GEOMEAN,       /* exp(mean(log(max(v, 1e-5)))), summary only */
  SA_NONE,          /* per-topic only (relstring) */
  SA_NUM_Q,         /* number of topics, summary only */
  SA_RUNID,         /* the run's tag, summary only */
} score_agg;

typedef struct score_measure {
  const char *name;
  const char *help;           /* one or two lines for --help */
  score_param_kind params;
  int ndefault;
  const double *defaults;
  score_agg agg;
  /* Per-topic values: out[nvalues] (cutoffs, or 1). Not called for missing
     topics (-c), whose values are 0 except num_rel. */
  void (*calc)(const score_topic *t, const score_opts *o, const double *params, int nparams,
               double *out);
  /* relstring: the string value instead of calc. */
  void (*calc_str)(const score_topic *t, const score_opts *o, const double *params,
                   int nparams, char *buf, size_t len);
  int nparams_exact;          /* SP_DOUBLES: required parameter count (0 = any) */
} score_measure;

/* Shared by measure files: cutoff k (a double holding an integer) as a
   document count, and the log2 discount trec_eval uses (log2(rank + 1)). */
static inline long score_cut(double k) { return (long)k; }

/* 1 per cutoff k if a relevant document is within the top k (success, acc). */
void score_calc_success(const score_topic *t, const score_opts *o, const double *p, int np, double *out);

/* Gain of a retrieved document for the gain-based measures (ndcg, G, ...):
   its grade; 0 for grade 0, absent and unjudged documents. */
static inline double score_gain(const score_topic *t, int32_t r) {
  return r > 0 && r < t->num_rel_levels ? (double)r : 0.0;
}

/* The ideal ranking's gains, walked as trec_eval walks them: every judged
   document by decreasing grade; `gain` is the current position's gain, 0 once
   only grade-0 documents remain. Starts at the top grade, before position 0. */
typedef struct {
  const long *levels;
  long level;     /* current grade, -1 when there is none */
  long used;      /* documents of that grade already placed */
  double gain;
} score_ideal;

static inline void score_ideal_init(score_ideal *it, const score_topic *t) {
  it->levels = t->rel_levels;
  it->level = t->num_rel_levels - 1;
  it->used = 0;
  it->gain = it->level > 0 ? (double)it->level : 0.0;
}
/* Move to the next ideal position. */
static inline void score_ideal_next(score_ideal *it) {
  it->used++;
  while (it->level >= 0 && it->used > it->levels[it->level]) {
    it->used = 1;
    it->level--;
    it->gain = it->level > 0 ? (double)it->level : 0.0;
  }
}

/* The table, in trec_eval's printing order, then otclir's own measures. */
extern const score_measure *const score_measures[];
extern const int score_num_measures;
const score_measure *score_measure_find(const char *name);

/* A selection: the measures to compute, with their parameters. */
typedef struct {
  const score_measure *m;
  double *params;
  int nparams;
  int nvalues;              /* values per topic (number of cutoffs, or 1) */
  char **names;             /* printed name of each value */
  int col;                  /* first column in a score_result row */
} score_sel;

typedef struct {
  score_sel *sel;           /* in table order */
  int nsel;
  int ncols;                /* total values per topic */
} score_selection;

/* Add "-m" arguments one at a time: a measure name, NAME.PARAMS
 * ("P.5,10", "iprec_at_recall.0.5", "set_F.0.5") or a nickname
 * (official, set, all_trec). 0, or -1 with err. */
int score_select(score_selection *s, const char *arg, char *err, size_t errlen);
/* Fix columns; with no measure selected, the official set. */
void score_select_finish(score_selection *s);
void score_selection_free(score_selection *s);

/* Per-topic values of one run. */
typedef struct {
  uint32_t ntopics;         /* qrels topics evaluated (in order), <= s->nqrels_topics */
  uint32_t *topic;          /* trec_set topic index of row i */
  double *v;                /* [ntopics][ncols] */
  char **str;               /* [ntopics][nsel]: relstring values (NULL elsewhere) */
  int nsel;
  int ncols;
  const char *runid;
} score_result;

/* Evaluate a run: rows for the qrels topics in order. Returns 0, or -1 with
 * err when a topic cannot be evaluated (a qrels topic without run lines and
 * no -c; a docid twice in a topic's ranking); res then holds the rows before
 * that topic, as trec_eval has printed them by then with -q. */
int score_evaluate(const trec_set *s, const trec_run *run, const score_selection *sel,
                   const score_opts *o, score_result *res, char *err, size_t errlen);
void score_result_free(score_result *r);

/* Output in trec_eval's format: "%-22s\t%s\t%6.4f" (counts %ld). */
void score_print_topic(FILE *f, const score_selection *sel, const score_result *r, uint32_t row,
                       const char *qid);
/* Summary over rows[0..nrows) (all rows when rows is NULL), labelled label. */
void score_print_summary(FILE *f, const score_selection *sel, const score_result *r,
                         const uint32_t *rows, uint32_t nrows, const char *label);
/* The summary value of one column over the given rows (mean, sum or geometric mean). */
double score_summary_value(const score_sel *m, const score_result *r, int col,
                           const uint32_t *rows, uint32_t nrows);

/* ---- statistics (lib/score_stats.c) ---- */
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
