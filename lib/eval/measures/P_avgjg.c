/* P_avgjg: precision at cutoffs per judgement group, averaged over groups. */
#include "eval/measure.h"

static void one(const score_rr *r, const score_topic *t, const score_sel *q, double *out) {
  score_count_at(r, t->level, 0, q->lcut, q->nvalues, out);
  for (int c = 0; c < q->nvalues; c++) out[c] /= (double)q->lcut[c];
}

static void calc(const score_topic *t, const score_sel *q, double *out) { score_avg_jgs(t, q, out, one); }

SCORE_MEASURE(P_avgjg, .help = "P averaged over judgement groups (-R qrels_jg).", .form = SF_JG,
              .params = SP_LONG_CUTS, SCORE_DEFAULTS(5, 10, 15, 20, 30, 100, 200, 500, 1000), .calc = calc);
