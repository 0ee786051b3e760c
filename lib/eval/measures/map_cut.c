/* map_cut: average precision of the top k documents, still divided by
   num_rel (relevant documents below k count as precision 0). */
#include "eval/score.h"

static const double defaults[] = {5, 10, 15, 20, 30, 100, 200, 500, 1000};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long rel_so_far = 0, i = 0;
  double sum = 0.0;
  for (int c = 0; c < np; c++) {
    long k = score_cut(p[c]);
    for (; i < k && i < t->num_ret; i++)
      if (score_is_rel(t, o, i)) sum += (double)++rel_so_far / (double)(i + 1);
    out[c] = t->num_rel ? sum / (double)t->num_rel : 0.0;
  }
}

const score_measure score_m_map_cut = {
    .name = "map_cut",
    .help = "Average precision over the top k, divided by num_rel (default cutoffs as P).",
    .params = SP_LONG_CUTS,
    .ndefault = 9,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
