/* recall: relevant documents in the top k / num_rel (0 when nothing is
   relevant). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  if (!t->rr->num_rel) return;
  score_count_at(t->rr, t->level, 0, q->lcut, q->nvalues, out);
  for (int c = 0; c < q->nvalues; c++) out[c] /= (double)t->rr->num_rel;
}

SCORE_MEASURE(recall, .help = "Recall at k (default 5,10,15,20,30,100,200,500,1000).", .form = SF_RR,
              .params = SP_LONG_CUTS, SCORE_DEFAULTS(5, 10, 15, 20, 30, 100, 200, 500, 1000), .calc = calc);
