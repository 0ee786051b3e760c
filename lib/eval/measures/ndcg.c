/* ndcg (Jarvelin & Kekalainen 2002): dcg / ideal dcg. Gains are the grades,
   or set with grade=gain parameters (ndcg.1=3,2=9: grade 1 gains 3, grade 2
   gains 9, others their grade). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  double dcg, ideal;
  score_dcg(t->rr, q, &dcg, &ideal);
  if (ideal > 0.0) out[0] = dcg / ideal;
}

SCORE_MEASURE(ndcg, .help = "Normalized discounted cumulative gain (gains = grades, or ndcg.GRADE=GAIN,...).",
              .form = SF_RR, .params = SP_PAIRS, .calc = calc);
