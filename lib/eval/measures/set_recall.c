/* set_recall: recall of the whole retrieved set. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = t->num_rel ? (double)t->num_rel_ret / (double)t->num_rel : 0.0;
}

const score_measure score_m_set_recall = {
    .name = "set_recall",
    .help = "Set recall: num_rel_ret / num_rel.",
    .agg = SA_MEAN,
    .calc = calc,
};
