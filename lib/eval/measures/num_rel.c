/* num_rel: judged documents at or above the relevance level. Computed from
   the qrels alone, so it is also reported for topics missing from the run. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = (double)t->num_rel;
}

const score_measure score_m_num_rel = {
    .name = "num_rel",
    .help = "Number of relevant documents in the qrels (summed over topics).",
    .agg = SA_SUM,
    .calc = calc,
};
