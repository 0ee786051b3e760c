/* rbp_resid: how much rbp could rise if every unjudged retrieved document had
   full gain: p^n + (1 - p) sum of p^i over unjudged ranks i (0 if none). */
#include "eval/measure.h"
#include <string.h>

static void calc(const score_topic *t, const score_sel *q, double *out) {
  double p = 0.9, sum = 0.0, cur_p = 1.0;
  for (int i = 0; i < q->npairs; i++)
    if (!strcmp(q->pairs[i].name, "p")) p = q->pairs[i].value;
  long unj = 0;
  for (long i = 0; i < t->rr->num_ret; i++) {
    if (t->rr->rel[i] < 0) unj++, sum += cur_p;
    cur_p = cur_p * p;
  }
  if (unj) out[0] = cur_p + (1 - p) * sum;
}

SCORE_MEASURE(rbp_resid, .help = "Residual of rbp from unjudged retrieved documents (rbp_resid.p=P).",
              .form = SF_RR, .params = SP_PAIRS, .calc = calc);
