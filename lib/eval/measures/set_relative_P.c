/* set_relative_P: relevant retrieved / min(num_ret, num_rel). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  if (r->num_ret && r->num_rel)
    out[0] = (double)r->num_rel_ret / (double)(r->num_ret < r->num_rel ? r->num_ret : r->num_rel);
}

SCORE_MEASURE(set_relative_P, .help = "Relevant retrieved / min(num_ret, num_rel).", .form = SF_RR, .calc = calc);
