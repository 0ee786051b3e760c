/* num_rel_ret: relevant documents retrieved; summed over topics. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)t->rr->num_rel_ret; }

SCORE_MEASURE(num_rel_ret, .help = "Relevant documents retrieved; sum over topics.", .form = SF_RR, .kind = SV_LONG,
              .agg = SA_SUM, .calc = calc);
