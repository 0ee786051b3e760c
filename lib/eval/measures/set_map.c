/* set_map: unranked average precision, set precision times set recall. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = t->num_ret && t->num_rel
               ? ((double)t->num_rel_ret * (double)t->num_rel_ret) /
                     ((double)t->num_ret * (double)t->num_rel)
               : 0.0;
}

const score_measure score_m_set_map = {
    .name = "set_map",
    .help = "Unranked set map: num_rel_ret^2 / (num_ret * num_rel).",
    .agg = SA_MEAN,
    .calc = calc,
};
