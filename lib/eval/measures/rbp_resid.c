/* rbp_resid: the residual of rbp (p = 0.9), how much rbp could still rise
   if every unjudged retrieved document had full gain: p^n + (1 - p) times the
   sum of p^i over unjudged ranks i; 0 when no retrieved document is unjudged. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  const double persist = 0.9;
  long unj = 0;
  double sum = 0.0, cur_p = 1.0;
  for (long i = 0; i < t->num_ret; i++) {
    if (t->rel[i] < 0) {
      unj++;
      sum += cur_p;
    }
    cur_p = cur_p * persist;
  }
  out[0] = unj ? cur_p + (1 - persist) * sum : 0.0;
}

const score_measure score_m_rbp_resid = {
    .name = "rbp_resid",
    .help = "Residual of rbp (p = 0.9) from unjudged retrieved documents.",
    .agg = SA_MEAN,
    .calc = calc,
};
