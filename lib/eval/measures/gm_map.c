/* gm_map: geometric mean of average precision (floored at 1e-5), which
   rewards improving the worst topics. Summary only. */
#include "eval/score.h"

extern const score_measure score_m_map;

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  score_m_map.calc(t, o, p, np, out);
}

const score_measure score_m_gm_map = {
    .name = "gm_map",
    .help = "Geometric mean of average precision over topics (each floored at 0.00001).",
    .agg = SA_GEOMEAN,
    .calc = calc,
};
