/* recall: relevant documents within the top k, over num_rel. */
#include "eval/score.h"

static const double defaults[] = {5, 10, 15, 20, 30, 100, 200, 500, 1000};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long rel_so_far = 0, i = 0;
  for (int c = 0; c < np; c++) {
    long k = score_cut(p[c]);
    for (; i < k && i < t->num_ret; i++) rel_so_far += score_is_rel(t, o, i);
    out[c] = t->num_rel ? (double)rel_so_far / (double)t->num_rel : 0.0;
  }
}

const score_measure score_m_recall = {
    .name = "recall",
    .help = "Recall at cutoffs k (default as P).",
    .params = SP_LONG_CUTS,
    .ndefault = 9,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
