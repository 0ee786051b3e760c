/* gm_bpref: bpref combined by the geometric mean over topics; summary only. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  out[0] = score_gm_log(score_bpref(t->rr, t->level));
}

SCORE_MEASURE(gm_bpref, .help = "Geometric mean of bpref; summary only.", .form = SF_RR, .agg = SA_GEOMEAN,
              .calc = calc);
