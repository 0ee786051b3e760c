/* relative_P: relevant in the top k / min(k, num_rel). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  long R = t->rr->num_rel;
  if (!R) return;
  score_count_at(t->rr, t->level, 0, q->lcut, q->nvalues, out);
  for (int c = 0; c < q->nvalues; c++) out[c] /= (double)(q->lcut[c] > R ? R : q->lcut[c]);
}

SCORE_MEASURE(relative_P, .help = "Relative precision at k: relevant / min(k, R).", .form = SF_RR,
              .params = SP_LONG_CUTS, SCORE_DEFAULTS(5, 10, 15, 20, 30, 100, 200, 500, 1000), .calc = calc);
