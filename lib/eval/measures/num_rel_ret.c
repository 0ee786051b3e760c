/* num_rel_ret: relevant documents retrieved. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = (double)t->num_rel_ret;
}

const score_measure score_m_num_rel_ret = {
    .name = "num_rel_ret",
    .help = "Number of relevant documents retrieved (summed over topics).",
    .agg = SA_SUM,
    .calc = calc,
};
