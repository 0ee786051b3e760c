/* success: 1 if a relevant document is within the top k, else 0. */
#include "eval/measure.h"

void score_success(const score_topic *t, const score_sel *q, double *out);
void score_success(const score_topic *t, const score_sel *q, double *out) {
  score_count_at(t->rr, t->level, 0, q->lcut, q->nvalues, out);
  for (int c = 0; c < q->nvalues; c++) out[c] = out[c] ? 1.0 : 0.0;
}

SCORE_MEASURE(success, .help = "1 if a relevant document is within the top k (default 1,5,10).", .form = SF_RR,
              .params = SP_LONG_CUTS, SCORE_DEFAULTS(1, 5, 10), .calc = score_success);
