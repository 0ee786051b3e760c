/* ndcg (Jarvelin & Kekalainen 2002): sum of gain / log2(rank + 1) over the
   ranking, divided by the same over the ideal ranking of all judged
   documents. Gains are the raw grades (not cut by -l). */
#include <math.h>

#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  double dcg = 0.0, ideal = 0.0;
  score_ideal id;
  score_ideal_init(&id, t);
  long i = 0;
  for (; i < t->num_ret && id.gain > 0.0; i++) {
    double g = score_gain(t, t->rel[i]);
    if (g != 0) dcg += g / log2((double)(i + 2));
    score_ideal_next(&id);
    if (id.gain > 0.0) ideal += id.gain / log2((double)(i + 2));
  }
  for (; i < t->num_ret; i++) {
    double g = score_gain(t, t->rel[i]);
    if (g != 0) dcg += g / log2((double)(i + 2));
  }
  for (; id.gain > 0.0; i++) {
    score_ideal_next(&id);
    if (id.gain > 0.0) ideal += id.gain / log2((double)(i + 2));
  }
  out[0] = ideal > 0.0 ? dcg / ideal : 0.0;
}

const score_measure score_m_ndcg = {
    .name = "ndcg",
    .help = "Normalized discounted cumulative gain over the whole ranking (gains = grades).",
    .agg = SA_MEAN,
    .calc = calc,
};
