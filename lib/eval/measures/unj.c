/* unj: fraction of the top k that is unjudged (absent from the qrels or a
   negative grade); ranks past the ranking count as judged. */
#include "eval/score.h"

static const double defaults[] = {5, 10, 20};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long unj = 0, i = 0;
  for (int c = 0; c < np; c++) {
    long k = score_cut(p[c]);
    for (; i < k && i < t->num_ret; i++) unj += t->rel[i] < 0;
    out[c] = (double)unj / (double)k;
  }
}

const score_measure score_m_unj = {
    .name = "unj",
    .help = "Fraction of unjudged documents in the top k (default 5,10,20).",
    .params = SP_LONG_CUTS,
    .ndefault = 3,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
