/* Rprec: precision after num_rel documents (0 when nothing is retrieved or
   nothing is relevant). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  long k = r->num_ret < r->num_rel ? r->num_ret : r->num_rel;
  double found;
  score_count_at(r, t->level, 0, &k, 1, &found);
  if (k) out[0] = found / (double)r->num_rel;
}

SCORE_MEASURE(Rprec, .help = "Precision after R (= num_rel) documents.", .form = SF_RR, .calc = calc);
