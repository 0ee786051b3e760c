/* num_ret: documents retrieved (after -M and -J); the summary is the sum. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = (double)t->num_ret;
}

const score_measure score_m_num_ret = {
    .name = "num_ret",
    .help = "Number of documents retrieved (summed over topics).",
    .agg = SA_SUM,
    .calc = calc,
};
