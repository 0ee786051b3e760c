/* Rprec_mult: precision after m * num_rel documents, for multipliers m
   (default 0.2, 0.4, ..., 2.0); the rank is (long)(m * num_rel + 0.9). */
#include "eval/score.h"

#include <stdlib.h>

#include "base/util.h"

static const double defaults[] = {0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long cutstack[64], *cut = np <= 64 ? cutstack : xmalloc(sizeof(long) * (size_t)np);
  for (int i = 0; i < np; i++) {
    cut[i] = (long)(p[i] * (double)t->num_rel + 0.9);
    out[i] = 0.0;
  }
  int cc = np - 1;
  /* Cutoffs past the ranking: the missing ranks are non-relevant. */
  while (cc >= 0 && cut[cc] > t->num_ret) {
    out[cc] = (double)t->num_rel_ret / (double)cut[cc];
    cc--;
  }
  long rel_so_far = t->num_rel_ret;
  for (long i = t->num_ret; i > 0 && rel_so_far > 0; i--) {
    double precis = (double)rel_so_far / (double)i;
    while (cc >= 0 && i == cut[cc]) out[cc--] = precis;
    if (t->rel[i - 1] >= o->relevance_level) rel_so_far--;
  }
  if (cut != cutstack) free(cut);
}

const score_measure score_m_Rprec_mult = {
    .name = "Rprec_mult",
    .help = "Precision at multiples of R (default 0.2,0.4,...,2.0).",
    .params = SP_DOUBLE_CUTS,
    .ndefault = 10,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
