/* 11pt_avg: interpolated precision averaged over recall levels (default the
   11 levels 0, 0.1, ..., 1). Obsolete; kept for comparisons with old runs. */
#include "eval/score.h"

#include <stdlib.h>

#include "base/util.h"

void score_iprec_at(const score_topic *t, const score_opts *o, const double *pct, int n, double *out);

static const double defaults[] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  double stack[64], *v = np <= 64 ? stack : xmalloc(sizeof(double) * (size_t)np);
  score_iprec_at(t, o, p, np, v);
  /* trec_eval adds from the highest level down. */
  double sum = 0.0;
  for (int i = np - 1; i >= 0; i--) sum += v[i];
  out[0] = sum / (double)np;
  if (v != stack) free(v);
}

const score_measure score_m_11pt_avg = {
    .name = "11pt_avg",
    .help = "Interpolated precision averaged over 11 recall levels (obsolete; use map).",
    .params = SP_DOUBLES,
    .ndefault = 11,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
