/* unj: the share of the top k documents that are not judged (absent, or a
   negative grade): a red flag for a run the judgements do not cover. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  score_count_at(t->rr, t->level, 1, q->lcut, q->nvalues, out);
  for (int c = 0; c < q->nvalues; c++) out[c] /= (double)q->lcut[c];
}

SCORE_MEASURE(unj, .help = "Unjudged share of the top k (default 5,10,20).", .form = SF_RR, .params = SP_LONG_CUTS,
              SCORE_DEFAULTS(5, 10, 20), .calc = calc);
