/* ndcg_rel: ndcg averaged at the relevant documents (experimental). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  score_gains g;
  score_ideal id;
  score_gains_ideal(&g, &id, r, q);
  double dcg = 0.0, ideal = 0.0, sum = 0.0;
  long num_rel = 0, num_rel_ret = 0;
  for (long i = 0; i < r->num_ret || id.gain > 0.0; i++) {
    double gain = i < r->num_ret ? score_gain_of(&g, r->rel[i]) : 0.0;
    if (gain != 0) dcg += score_discount(gain, i);
    if (id.gain > 0.0) {
      score_ideal_next(&id);
      if (id.gain > 0.0) num_rel++, ideal += score_discount(id.gain, i);
    }
    if (gain > 0) sum += dcg / ideal, num_rel_ret++;
  }
  sum += (double)(num_rel - num_rel_ret) * dcg / ideal;
  if (sum > 0.0) out[0] = sum / (double)num_rel;
  score_gains_free(&g);
}

SCORE_MEASURE(ndcg_rel, .help = "ndcg averaged over relevant documents (experimental).", .form = SF_RR,
              .params = SP_PAIRS, .calc = calc);
