/* success: 1 if a relevant document is in the top k, else 0. */
#include "eval/score.h"

static const double defaults[] = {1, 5, 10};

/* Shared with acc (XTREME-R's name for the same quantity). */
void score_calc_success(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long first = -1;
  for (long i = 0; i < t->num_ret; i++)
    if (score_is_rel(t, o, i)) {
      first = i;
      break;
    }
  for (int c = 0; c < np; c++) out[c] = first >= 0 && first < score_cut(p[c]) ? 1.0 : 0.0;
}

const score_measure score_m_success = {
    .name = "success",
    .help = "1 if a relevant document is within the top k (default 1,5,10).",
    .params = SP_LONG_CUTS,
    .ndefault = 3,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = score_calc_success,
};
