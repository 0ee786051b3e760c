/* Rprec: precision after num_rel documents. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long rel_so_far = 0;
  for (long i = 0; i < t->num_ret && i < t->num_rel; i++) rel_so_far += score_is_rel(t, o, i);
  out[0] = t->num_rel ? (double)rel_so_far / (double)t->num_rel : 0.0;
}

const score_measure score_m_Rprec = {
    .name = "Rprec",
    .help = "R-precision: precision after R = num_rel documents.",
    .agg = SA_MEAN,
    .calc = calc,
};
