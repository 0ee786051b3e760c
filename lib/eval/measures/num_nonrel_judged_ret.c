/* num_nonrel_judged_ret: judged non-relevant documents retrieved; summed. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  out[0] = (double)r->num_ret - (double)r->num_nonpool - (double)r->num_unjudged_in_pool - (double)r->num_rel_ret;
}

SCORE_MEASURE(num_nonrel_judged_ret, .help = "Judged non-relevant documents retrieved; sum over topics.",
              .form = SF_RR, .kind = SV_LONG, .agg = SA_SUM, .calc = calc);
