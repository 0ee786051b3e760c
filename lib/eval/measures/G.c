/* G: gain of each document discounted by log2(2 + ideal cost so far -
   gain so far), normalized by the total ideal gain. Experimental measure of
   trec_eval 9 combining qualities of map and ndcg; gains are the grades. */
#include <math.h>

#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  const double min_cost = 1.0;
  double results_g = 0.0, sum_results = 0.0, sum_ideal = 0.0, sum_cost = 0.0;
  score_ideal id;
  score_ideal_init(&id, t);
  long i = 0;
  for (; i < t->num_ret && id.gain > 0.0; i++) {
    double g = score_gain(t, t->rel[i]);
    sum_results += g;
    score_ideal_next(&id);
    if (id.gain > 0.0) sum_ideal += id.gain;
    sum_cost += id.gain >= min_cost ? id.gain : min_cost;
    if (g != 0) results_g += g / log2(2 + sum_cost - sum_results);
  }
  for (; i < t->num_ret; i++) {
    double g = score_gain(t, t->rel[i]);
    sum_results += g;
    sum_cost += min_cost;
    if (g != 0) results_g += g / log2(2 + sum_cost - sum_results);
  }
  while (id.gain > 0.0) {
    score_ideal_next(&id);
    if (id.gain > 0.0) sum_ideal += id.gain;
  }
  out[0] = sum_ideal > 0.0 ? results_g / sum_ideal : 0.0;
}

const score_measure score_m_G = {
    .name = "G",
    .help = "Normalized gain G (experimental; combines map and ndcg).",
    .agg = SA_MEAN,
    .calc = calc,
};
