/* Rprec_mult: precision after x * num_rel documents for multipliers x
   (default .2, .4, ..., 2). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  score_rprec_mult(t->rr, t->level, q->dv, q->nvalues, out);
}

SCORE_MEASURE(Rprec_mult, .help = "Precision after x * R documents (default x = .2,.4,...,2).", .form = SF_RR,
              .params = SP_DOUBLE_CUTS, SCORE_DEFAULTS(0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0), .calc = calc);
