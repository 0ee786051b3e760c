/* measure.h: what a measure is, for the files in lib/eval/measures/ (one
 * measure each, as trec_eval has them) and the shared helpers they use.
 *
 * A measure reads one topic in the form its relevance information gives
 * (trec_eval's intermediate forms):
 *   SF_RR     qrels: the ranking as grades (score_rr, trec_eval's RES_RELS)
 *   SF_JG     qrels_jg: one score_rr per judgement group
 *   SF_PREFS  prefs, qrels_prefs: preferences counted over the ranking
 *   SF_NONE   nothing (runid, num_q)
 * and writes its values for the topic: one, or one per cutoff. How values
 * are printed and combined over topics (mean, sum, geometric mean) is
 * declared, not coded. Adding a measure: a file measures/NAME.c with
 * SCORE_MEASURE(NAME, ...) and its line in measures.c's table.
 */
#ifndef OTC_MEASURE_H
#define OTC_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "eval/trec.h"

/* One topic's ranking as grades (trec_eval's RES_RELS). */
typedef struct {
  long num_ret;             /* documents in the ranking (after -M, -J) */
  long num_rel;             /* judged with grade >= the relevance level */
  long num_rel_ret;         /* retrieved and relevant */
  long num_nonpool;         /* retrieved, not judged (not with -J) */
  long num_unjudged_in_pool;/* retrieved, negative grade (not with -J) */
  const int32_t *rel;       /* [num_ret]: grade >= 0, TREC_NONPOOL or TREC_UNJUDGED */
  const long *rel_levels;   /* [num_rel_levels]: judged documents per grade */
  long num_rel_levels;      /* largest grade judged + 1 */
} score_rr;

typedef struct score_prefs score_prefs; /* eval/prefs.h */

/* Everything a measure may read about one topic. */
typedef struct {
  const char *qid;
  const score_rr *rr;       /* SF_RR */
  const score_rr *jgs;      /* SF_JG: [num_jgs] */
  long num_jgs;
  const score_prefs *prefs; /* SF_PREFS */
  long level;               /* -l: grade >= level is relevant */
  long num_docs_in_coll;    /* -N */
} score_topic;

typedef enum { SF_NONE, SF_RR, SF_JG, SF_PREFS } score_form;
typedef enum {
  SP_NONE,          /* no parameters */
  SP_LONG_CUTS,     /* cutoffs read as integers (atol), sorted: NAME_k */
  SP_DOUBLE_CUTS,   /* fractional cutoffs, sorted: NAME_%3.2f */
  SP_DOUBLES,       /* numbers in the order given: NAME_PARAMS when given */
  SP_PAIRS,         /* name=value pairs (gains, p): NAME_PARAMS when given */
} score_param_kind;
typedef enum { SV_DOUBLE, SV_LONG, SV_RUNID, SV_STRING } score_value_kind;
typedef enum {
  SA_MEAN,          /* mean over topics, printed %6.4f */
  SA_SUM,           /* sum over topics (counts) */
  SA_GEOMEAN,       /* values are logs; exp of their mean; summary only */
  SA_NUM_Q,         /* number of topics; summary only */
  SA_NUM_REL,       /* sum; with -c, grades > 0 of every topic (trec_eval) */
  SA_NONE,          /* no summary (runid prints the tag, relstring nothing) */
} score_agg;

typedef struct {
  char *name;
  double value;
} score_pair;

struct score_measure;
/* A measure as selected: its parameters and the names of its values. */
typedef struct {
  const struct score_measure *m;
  int nvalues;              /* values per topic (number of cutoffs, or 1) */
  char **names;             /* printed name of each value */
  int col;                  /* first column in a result row */
  long *lcut;               /* SP_LONG_CUTS: [nvalues], ascending */
  double *dv;               /* SP_DOUBLE_CUTS (ascending), SP_DOUBLES (as given) */
  int ndv;
  score_pair *pairs;        /* SP_PAIRS */
  int npairs;
  char *printable;          /* the parameter text given with -m, or NULL */
} score_sel;

typedef struct score_measure {
  const char *name;
  const char *help;         /* one or two lines for --help */
  score_form form;
  score_param_kind params;
  const double *defaults;   /* default cutoffs or parameters */
  int ndefault;
  score_value_kind kind;
  score_agg agg;
  /* Per-topic values out[nvalues], all 0 on entry. */
  void (*calc)(const score_topic *t, const score_sel *q, double *out);
  /* SV_STRING: the value as an allocated string. */
  char *(*calc_str)(const score_topic *t, const score_sel *q);
  /* Parameters the measure cannot use: -1 with err (as trec_eval fails). */
  int (*check)(const score_sel *q, char *err, size_t errlen);
} score_measure;

#define SCORE_MEASURE(id, ...) const score_measure score_m_##id = {.name = #id, __VA_ARGS__}
#define SCORE_DEFAULTS(...) \
  .defaults = (const double[]){__VA_ARGS__}, .ndefault = (int)(sizeof((double[]){__VA_ARGS__}) / sizeof(double))

#define SCORE_MIN_GEO_MEAN 0.00001 /* trec_eval's floor before taking logs */

/* ---- helpers shared by measures (lib/eval/measure_lib.c) ---- */

/* Relevant (grade >= level) documents within the top cut[i] of r (cuts
   ascending), into out[i]; unj: count unjudged and unpooled instead. */
void score_count_at(const score_rr *r, long level, int unj, const long *cut, int n, double *out);
/* The sum of precision at each relevant document (average precision's
   numerator); *found: how many relevant documents were retrieved. */
double score_ap_sum(const score_rr *r, long level, long *found);
/* Average precision: that sum / num_rel (0 when none was retrieved). */
double score_ap(const score_rr *r, long level);
/* The same sum over the top cut[i] documents (cuts ascending). */
void score_ap_at(const score_rr *r, long level, const long *cut, int n, double *out);
/* Interpolated precision at recall cut[i] (fractions of num_rel, rounded),
   as trec_eval walks them: cuts in the order given. */
void score_iprec(const score_rr *r, long level, const double *cut, int n, double *out);
/* Precision after cut[i] * num_rel documents (rounded up from .1). */
void score_rprec_mult(const score_rr *r, long level, const double *cut, int n, double *out);
/* bpref of a topic. */
double score_bpref(const score_rr *r, long level);
/* log(max(v, SCORE_MIN_GEO_MEAN)): what the geometric means average. */
double score_gm_log(double v);
/* Value i of a cut measure over several judgement groups: each group's
   values (from one) summed, divided by the number of groups when > 1. */
void score_avg_jgs(const score_topic *t, const score_sel *q, double *out,
                   void (*one)(const score_rr *r, const score_topic *t, const score_sel *q, double *out));

/* Gains of the grades (ndcg and its kin): by default the grade, or set with
   name=value parameters (ndcg.1=3,2=9), sorted by gain as trec_eval sorts
   them. */
typedef struct {
  long rel_level, num_at_level;
  double gain;
} score_gain_level;
typedef struct {
  score_gain_level *lv;     /* ascending gain */
  long n;
  double *table;            /* gain by grade - lo, for lo..hi (NULL: scan lv) */
  long lo, hi;
  score_gain_level buf[8];
  double tbuf[8];
} score_gains;
void score_gains_init(score_gains *g, const score_rr *r, const score_sel *q);
void score_gains_free(score_gains *g);
/* rbp's scaling: gains outside [0, 1] mapped to (gain - min) / (max - min). */
void score_gains_unit(score_gains *g);
double score_gain_scan(const score_gains *g, long rel);
static inline double score_gain_of(const score_gains *g, long rel) {
  if (!g->table) return score_gain_scan(g, rel);
  return rel >= g->lo && rel <= g->hi ? g->table[rel - g->lo] : 0.0;
}
/* The ideal ranking's gains in trec_eval's walk: highest gain level first;
   `gain` is the current position's, 0 once no level is left. */
typedef struct {
  const score_gains *g;
  long cur, used;
  double gain;
} score_ideal;
void score_ideal_init(score_ideal *it, const score_gains *g);
/* Both at once: the gains of r with q's parameters, and their ideal walk. */
void score_gains_ideal(score_gains *g, score_ideal *it, const score_rr *r, const score_sel *q);
void score_ideal_next(score_ideal *it); /* to the next position */
/* Discounted cumulative gain of the ranking and of the ideal ranking, with
   q's gains (NULL: the grades). */
void score_dcg(const score_rr *r, const score_sel *q, double *dcg, double *ideal);
/* gain / log2(rank + 1) for the document at index i. */
static inline double score_discount(double gain, long i);

#include <math.h>
static inline double score_discount(double gain, long i) { return gain / log2((double)(i + 2)); }

#endif
