/* P: precision after k documents (missing ranks count as non-relevant). */
#include "eval/score.h"

static const double defaults[] = {5, 10, 15, 20, 30, 100, 200, 500, 1000};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long rel_so_far = 0, i = 0;
  for (int c = 0; c < np; c++) {
    long k = score_cut(p[c]);
    for (; i < k && i < t->num_ret; i++) rel_so_far += score_is_rel(t, o, i);
    out[c] = (double)rel_so_far / (double)k;
  }
}

const score_measure score_m_P = {
    .name = "P",
    .help = "Precision at cutoffs k (default 5,10,15,20,30,100,200,500,1000).",
    .params = SP_LONG_CUTS,
    .ndefault = 9,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
