/* iprec_at_recall: interpolated precision at recall levels, the points of
   the standard recall-precision graph; the interpolated precision at rank X
   is the best precision at any rank at or below X. The recall level r is
   reached after (long)(r * num_rel + 0.9) relevant documents, trec_eval's
   historical rounding. */
#include "eval/score.h"

#include <math.h>
#include <stdlib.h>

#include "base/util.h"

/* Shared with 11pt_avg: interpolated precision at each fractional cutoff. */
void score_iprec_at(const score_topic *t, const score_opts *o, const double *pct, int n, double *out) {
  long cutstack[64], *cut = n <= 64 ? cutstack : xmalloc(sizeof(long) * (size_t)n);
  for (int i = 0; i < n; i++) cut[i] = lround(pct[i] * (double)t->num_rel);
  int cc = n - 1;
  while (cc >= 0 && cut[cc] > t->num_rel_ret) {
    out[cc] = 0.0;
    cc--;
  }
  /* Walk the ranking upwards, carrying the best precision seen below. */
  double precis = (double)t->num_rel_ret / (double)t->num_ret;
  double int_precis = precis;
  long rel_so_far = t->num_rel_ret;
  for (long i = t->num_ret; i > 0 && rel_so_far > 0; i--) {
    precis = (double)rel_so_far / (double)i;
    if (int_precis < precis) int_precis = precis;
    if (t->rel[i - 1] >= o->relevance_level) {
      while (cc >= 0 && rel_so_far == cut[cc]) out[cc--] = int_precis;
      rel_so_far--;
    }
  }
  while (cc >= 0) out[cc--] = int_precis;
  if (cut != cutstack) free(cut);
}

static const double defaults[] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  score_iprec_at(t, o, p, np, out);
}

const score_measure score_m_iprec_at_recall = {
    .name = "iprec_at_recall",
    .help = "Interpolated precision at recall levels (default .0,.1,...,1.0).",
    .params = SP_DOUBLE_CUTS,
    .ndefault = 11,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
