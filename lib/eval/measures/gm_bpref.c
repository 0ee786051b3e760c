/* gm_bpref: geometric mean of bpref (floored at 1e-5). Summary only. */
#include "eval/score.h"

extern const score_measure score_m_bpref;

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  score_m_bpref.calc(t, o, p, np, out);
}

const score_measure score_m_gm_bpref = {
    .name = "gm_bpref",
    .help = "Geometric mean of bpref over topics (each floored at 0.00001).",
    .agg = SA_GEOMEAN,
    .calc = calc,
};
