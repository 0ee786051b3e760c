/* P: precision at cutoffs k (relevant in the top k / k; a short ranking
   counts as padded with non-relevant documents). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  score_count_at(t->rr, t->level, 0, q->lcut, q->nvalues, out);
  for (int c = 0; c < q->nvalues; c++) out[c] /= (double)q->lcut[c];
}

SCORE_MEASURE(P, .help = "Precision at k (default 5,10,15,20,30,100,200,500,1000).", .form = SF_RR,
              .params = SP_LONG_CUTS, SCORE_DEFAULTS(5, 10, 15, 20, 30, 100, 200, 500, 1000), .calc = calc);
