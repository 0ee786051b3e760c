/* rbp (Moffat & Zobel 2008): rank-biased precision with persistence 0.9,
   (1 - p) sum_i p^i gain_i, gains the grades scaled into [0, 1] by the
   topic's highest grade. trec_eval 10 means the same but reads its scaling
   bounds uninitialised, so its printed values are arbitrary. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  const double persist = 0.9;
  double top = t->num_rel_levels > 2 ? (double)(t->num_rel_levels - 1) : 1.0;
  double sum = 0.0, cur_p = 1.0;
  for (long i = 0; i < t->num_ret; i++) {
    double g = score_gain(t, t->rel[i]);
    if (g != 0) sum += g / top * cur_p;
    cur_p *= persist;
  }
  out[0] = (1.0 - persist) * sum;
}

const score_measure score_m_rbp = {
    .name = "rbp",
    .help = "Rank-biased precision, p = 0.9, gains = grade / highest grade.",
    .agg = SA_MEAN,
    .calc = calc,
};
