/* ideal_dcg: the dcg of the ideal ranking (every judged document by
   decreasing gain). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  double dcg;
  score_dcg(t->rr, q, &dcg, &out[0]);
}

SCORE_MEASURE(ideal_dcg, .help = "Discounted cumulative gain of the ideal ranking.", .form = SF_RR,
              .params = SP_PAIRS, .calc = calc);
