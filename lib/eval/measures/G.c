/* G: gain / log2(2 + ideal gain so far - gain so far) summed over the
   ranking, over the ideal gain (experimental; gains as for ndcg). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  score_gains g;
  score_ideal id;
  score_gains_ideal(&g, &id, r, q);
  double sum_results = 0.0, sum_ideal = 0.0, sum_cost = 0.0, results_g = 0.0, min_cost = 1.0;
  for (long i = 0; i < r->num_ret || id.gain > 0.0; i++) {
    int had = id.gain > 0.0;
    if (had) {
      score_ideal_next(&id);
      if (id.gain > 0.0) sum_ideal += id.gain;
    }
    if (i >= r->num_ret) continue;
    double gain = score_gain_of(&g, r->rel[i]);
    sum_results += gain;
    sum_cost += had && id.gain >= min_cost ? id.gain : min_cost;
    if (gain != 0) results_g += gain / log2(2 + sum_cost - sum_results);
  }
  if (sum_ideal > 0.0) out[0] = results_g / sum_ideal;
  score_gains_free(&g);
}

SCORE_MEASURE(G, .help = "Normalized gain G (experimental; gains as ndcg's).", .form = SF_RR, .params = SP_PAIRS,
              .calc = calc);
