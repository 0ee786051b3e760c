/* binG: binary G, the sum over relevant documents of
   1 / log2(2 + non-relevant documents above it), over num_rel (experimental). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  long rel_so_far = 0;
  double sum = 0.0;
  for (long i = 0; i < t->rr->num_ret; i++)
    if (t->rr->rel[i] >= t->level) sum += 1.0 / log2((double)(3 + i - ++rel_so_far));
  if (rel_so_far) out[0] = sum / (double)t->rr->num_rel;
}

SCORE_MEASURE(binG, .help = "Binary G (experimental).", .form = SF_RR, .calc = calc);
