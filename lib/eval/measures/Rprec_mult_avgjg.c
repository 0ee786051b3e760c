/* Rprec_mult_avgjg: Rprec_mult per judgement group, averaged over groups. */
#include "eval/measure.h"

static void one(const score_rr *r, const score_topic *t, const score_sel *q, double *out) {
  score_rprec_mult(r, t->level, q->dv, q->nvalues, out);
}

static void calc(const score_topic *t, const score_sel *q, double *out) { score_avg_jgs(t, q, out, one); }

SCORE_MEASURE(Rprec_mult_avgjg, .help = "Rprec_mult averaged over judgement groups (-R qrels_jg).", .form = SF_JG,
              .params = SP_DOUBLE_CUTS, SCORE_DEFAULTS(0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0), .calc = calc);
