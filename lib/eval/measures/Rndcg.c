/* Rndcg: ndcg averaged at the R levels, the ranks where the ideal gain
   drops (after the documents of each grade), and at the end of the ranking.
   Experimental. */
#include <math.h>

#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = 0.0;
  if (t->num_rel == 0) return;
  double dcg = 0.0, ideal = 0.0, sum = 0.0;
  long changes = 0;
  score_ideal id;
  score_ideal_init(&id, t);
  double old_gain = id.gain;
  long i = 0;
  for (; i < t->num_ret && id.gain > 0.0; i++) {
    double g = score_gain(t, t->rel[i]);
    score_ideal_next(&id);
    if (old_gain != id.gain) {
      if (ideal > 0.0) {
        sum += dcg / ideal;
        changes++;
      }
      old_gain = id.gain;
    }
    if (g != 0) dcg += g / log2((double)(i + 2));
    if (id.gain > 0.0) ideal += id.gain / log2((double)(i + 2));
  }
  if (i < t->num_ret) {
    for (; i < t->num_ret; i++) {
      double g = score_gain(t, t->rel[i]);
      if (g != 0) dcg += g / log2((double)(i + 2));
    }
    if (ideal > 0.0) {
      sum += dcg / ideal;
      changes++;
    }
  }
  for (; id.gain > 0.0; i++) {
    score_ideal_next(&id);
    if (old_gain != id.gain) {
      if (ideal > 0.0) {
        sum += dcg / ideal;
        changes++;
      }
      old_gain = id.gain;
    }
    if (id.gain > 0.0) ideal += id.gain / log2((double)(i + 2));
  }
  /* No change point happens only when no grade is positive (-l 0); trec_eval
     divides 0 by 0 there, we report 0. */
  out[0] = changes ? sum / (double)changes : 0.0;
}

const score_measure score_m_Rndcg = {
    .name = "Rndcg",
    .help = "ndcg averaged at the R levels of the ideal ranking (experimental).",
    .agg = SA_MEAN,
    .calc = calc,
};
