/* map: average precision (the precision at each relevant document retrieved,
   summed, over num_rel), averaged over topics. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = score_ap(t->rr, t->level); }

SCORE_MEASURE(map, .help = "Mean average precision.", .form = SF_RR, .calc = calc);
