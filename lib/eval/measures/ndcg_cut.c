/* ndcg_cut: ndcg of the top k documents against the ideal top k. */
#include <math.h>

#include "eval/score.h"

static const double defaults[] = {5, 10, 15, 20, 30, 100, 200, 500, 1000};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  double sum = 0.0;
  long i = 0;
  for (int c = 0; c < np; c++) {
    long k = score_cut(p[c]);
    for (; i < k && i < t->num_ret; i++) {
      double g = t->rel[i];
      if (g > 0) sum += g / log2((double)(i + 2));
    }
    out[c] = sum;
  }
  /* The ideal ranking: grades from the highest down to 1. */
  double ideal = 0.0;
  long lvl = t->num_rel_levels - 1, used = 0, j = 0;
  for (int c = 0; c < np; c++) {
    long k = score_cut(p[c]);
    for (; j < k && lvl > 0; j++) {
      used++;
      while (lvl > 0 && used > t->rel_levels[lvl]) {
        lvl--;
        used = 1;
      }
      if (lvl <= 0) break;
      ideal += (double)lvl / log2((double)(j + 2));
    }
    if (ideal > 0.0) out[c] /= ideal;
  }
}

const score_measure score_m_ndcg_cut = {
    .name = "ndcg_cut",
    .help = "ndcg at cutoffs k (default as P).",
    .params = SP_LONG_CUTS,
    .ndefault = 9,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
