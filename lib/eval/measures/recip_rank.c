/* recip_rank: 1 / rank of the first relevant document (0 if none). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  for (long i = 0; i < t->rr->num_ret; i++)
    if (t->rr->rel[i] >= t->level) {
      out[0] = 1.0 / (double)(i + 1);
      return;
    }
}

SCORE_MEASURE(recip_rank, .help = "Reciprocal rank of the first relevant document.", .form = SF_RR, .calc = calc);
