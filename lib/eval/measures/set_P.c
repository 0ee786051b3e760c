/* set_P: precision of the whole retrieved set. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = t->num_ret ? (double)t->num_rel_ret / (double)t->num_ret : 0.0;
}

const score_measure score_m_set_P = {
    .name = "set_P",
    .help = "Set precision: num_rel_ret / num_ret.",
    .agg = SA_MEAN,
    .calc = calc,
};
