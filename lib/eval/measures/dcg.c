/* dcg: discounted cumulative gain, gain / log2(rank + 1) summed over the
   ranking (gains as for ndcg). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  double ideal;
  score_dcg(t->rr, q, &out[0], &ideal);
}

SCORE_MEASURE(dcg, .help = "Discounted cumulative gain (gains as ndcg's).", .form = SF_RR, .params = SP_PAIRS,
              .calc = calc);
