/* ndcg_rel: ndcg averaged over the relevant (positive gain) documents: the
   ndcg at each one's rank, and for those not retrieved the ndcg at the end
   of the ranking. Experimental. */
#include <math.h>

#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  double dcg = 0.0, ideal = 0.0, sum = 0.0;
  long num_rel = 0, num_rel_ret = 0;
  score_ideal id;
  score_ideal_init(&id, t);
  long i = 0;
  for (; i < t->num_ret && id.gain > 0.0; i++) {
    double g = score_gain(t, t->rel[i]);
    if (g != 0) dcg += g / log2((double)(i + 2));
    score_ideal_next(&id);
    if (id.gain > 0.0) {
      num_rel++;
      ideal += id.gain / log2((double)(i + 2));
    }
    if (g > 0) {
      sum += dcg / ideal;
      num_rel_ret++;
    }
  }
  for (; i < t->num_ret; i++) {
    double g = score_gain(t, t->rel[i]);
    if (g != 0) dcg += g / log2((double)(i + 2));
    if (g > 0) {
      sum += dcg / ideal;
      num_rel_ret++;
    }
  }
  for (; id.gain > 0.0; i++) {
    score_ideal_next(&id);
    if (id.gain > 0.0) {
      num_rel++;
      ideal += id.gain / log2((double)(i + 2));
    }
  }
  sum += (double)(num_rel - num_rel_ret) * dcg / ideal;
  out[0] = sum > 0.0 ? sum / (double)num_rel : 0.0;
}

const score_measure score_m_ndcg_rel = {
    .name = "ndcg_rel",
    .help = "ndcg averaged at the relevant documents (experimental).",
    .agg = SA_MEAN,
    .calc = calc,
};
