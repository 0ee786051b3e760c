/* set_relative_P: set precision relative to the best possible for a set of
   that size, num_rel_ret / min(num_ret, num_rel). */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long m = t->num_ret < t->num_rel ? t->num_ret : t->num_rel;
  out[0] = t->num_ret && t->num_rel ? (double)t->num_rel_ret / (double)m : 0.0;
}

const score_measure score_m_set_relative_P = {
    .name = "set_relative_P",
    .help = "Relative set precision: num_rel_ret / min(num_ret, num_rel).",
    .agg = SA_MEAN,
    .calc = calc,
};
