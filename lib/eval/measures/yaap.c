/* yaap (Robertson 2012): log((1 + s) / (1 + num_rel - s)) with s the sum of
   precisions at the relevant documents. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  double sum = score_ap_sum(t->rr, t->level, NULL);
  out[0] = log((1.0 + sum) / (1.0 + (double)t->rr->num_rel - sum));
}

SCORE_MEASURE(yaap, .help = "Yet another average precision (Robertson 2012).", .form = SF_RR, .calc = calc);
