/* gm_map: average precision combined by the geometric mean over topics
   (values below 1e-5 count as 1e-5); summary only. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  out[0] = score_gm_log(score_ap(t->rr, t->level));
}

SCORE_MEASURE(gm_map, .help = "Geometric mean of average precision; summary only.", .form = SF_RR, .agg = SA_GEOMEAN,
              .calc = calc);
