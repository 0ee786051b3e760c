/* rbp (Moffat & Zobel 2008): rank-biased precision (1 - p) sum_i p^i gain_i,
   persistence p (default 0.9, rbp.p=0.95), gains as ndcg's scaled into [0, 1]
   when they leave it. trec_eval 10 scales with bounds it never initialises;
   starting both at 0 reproduces the outputs trec_eval ships. */
#include "eval/measure.h"
#include <string.h>

static void calc(const score_topic *t, const score_sel *q, double *out) {
  double p = 0.9, sum = 0.0, cur_p = 1.0;
  for (int i = 0; i < q->npairs; i++)
    if (!strcmp(q->pairs[i].name, "p")) p = q->pairs[i].value;
  score_gains g;
  score_gains_init(&g, t->rr, q);
  score_gains_unit(&g);
  for (long i = 0; i < t->rr->num_ret; i++) {
    double gain = score_gain_of(&g, t->rr->rel[i]);
    if (gain != 0) sum += gain * cur_p;
    cur_p = cur_p * p;
  }
  out[0] = (1.0 - p) * sum;
  score_gains_free(&g);
}

SCORE_MEASURE(rbp, .help = "Rank-biased precision (p = 0.9, or rbp.p=P; gains scaled into [0,1]).", .form = SF_RR,
              .params = SP_PAIRS, .calc = calc);
