/* 11pt_avg: interpolated precision averaged over recall levels (default
   the 11 levels 0, .1, ..., 1; the name stays 11pt_avg_PARAMS for any). */
#include "eval/measure.h"

#include <stdlib.h>

#include "base/util.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  double *v = xcalloc((size_t)q->ndv, sizeof *v), sum = 0.0;
  score_iprec(t->rr, t->level, q->dv, q->ndv, v);
  for (int i = q->ndv - 1; i >= 0; i--) sum += v[i]; /* trec_eval's order */
  out[0] = sum / (double)q->ndv;
  free(v);
}

SCORE_MEASURE(11pt_avg, .help = "Interpolated precision averaged over recall levels (default 0,.1,...,1).",
              .form = SF_RR, .params = SP_DOUBLES, SCORE_DEFAULTS(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
              .calc = calc);
