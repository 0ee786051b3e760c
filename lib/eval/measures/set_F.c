/* set_F: weighted harmonic mean of set precision and recall,
   (x+1) P R / (x P + R), x the weight of recall (default 1). */
#include "eval/score.h"

static const double defaults[] = {1.0};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = 0.0;
  if (!t->num_rel_ret) return;
  double P = (double)t->num_rel_ret / (double)t->num_ret;
  double R = (double)t->num_rel_ret / (double)t->num_rel;
  double x = p[0];
  out[0] = (x + 1.0) * P * R / (x * P + R);
}

const score_measure score_m_set_F = {
    .name = "set_F",
    .help = "Set F measure (x+1)PR/(xP+R), parameter x (default 1.0).",
    .params = SP_DOUBLES,
    .ndefault = 1,
    .defaults = defaults,
    .nparams_exact = 1,
    .agg = SA_MEAN,
    .calc = calc,
};
