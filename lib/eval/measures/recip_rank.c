/* recip_rank: 1 / rank of the first relevant document (0 if none). */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = 0.0;
  for (long i = 0; i < t->num_ret; i++)
    if (score_is_rel(t, o, i)) {
      out[0] = 1.0 / (double)(i + 1);
      return;
    }
}

const score_measure score_m_recip_rank = {
    .name = "recip_rank",
    .help = "Reciprocal rank of the first relevant document.",
    .agg = SA_MEAN,
    .calc = calc,
};
