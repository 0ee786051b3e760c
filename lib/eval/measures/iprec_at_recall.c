/* iprec_at_recall: interpolated precision (the best precision at this recall
   or beyond) at recall levels, default 0, .1, ..., 1. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  score_iprec(t->rr, t->level, q->dv, q->nvalues, out);
}

SCORE_MEASURE(iprec_at_recall, .help = "Interpolated precision at recall levels (default 0,.1,...,1).", .form = SF_RR,
              .params = SP_DOUBLE_CUTS, SCORE_DEFAULTS(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
              .calc = calc);
