/* num_ret: documents in the ranking (after -M and -J); summed over topics. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)t->rr->num_ret; }

SCORE_MEASURE(num_ret, .help = "Documents retrieved (after -M, -J); sum over topics.", .form = SF_RR, .kind = SV_LONG,
              .agg = SA_SUM, .calc = calc);
