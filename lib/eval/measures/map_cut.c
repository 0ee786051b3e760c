/* map_cut: average precision over the top k documents (divided by num_rel). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  if (t->rr->num_rel == 0) return;
  score_ap_at(t->rr, t->level, q->lcut, q->nvalues, out);
  for (int c = 0; c < q->nvalues; c++) out[c] /= (double)t->rr->num_rel;
}

SCORE_MEASURE(map_cut, .help = "Average precision at k (default 5,10,15,20,30,100,200,500,1000).", .form = SF_RR,
              .params = SP_LONG_CUTS, SCORE_DEFAULTS(5, 10, 15, 20, 30, 100, 200, 500, 1000), .calc = calc);
