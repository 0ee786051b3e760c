/* map: average precision, the mean over relevant documents of the precision
   at each one's rank (0 for those not retrieved). */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long rel_so_far = 0;
  double sum = 0.0;
  for (long i = 0; i < t->num_ret; i++)
    if (score_is_rel(t, o, i)) sum += (double)++rel_so_far / (double)(i + 1);
  out[0] = t->num_rel ? sum / (double)t->num_rel : 0.0;
}

const score_measure score_m_map = {
    .name = "map",
    .help = "Mean average precision: precision at each relevant document, averaged over num_rel.",
    .agg = SA_MEAN,
    .calc = calc,
};
