/* set_recall: recall of the whole retrieved set. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  if (t->rr->num_rel) out[0] = (double)t->rr->num_rel_ret / (double)t->rr->num_rel;
}

SCORE_MEASURE(set_recall, .help = "Recall of the retrieved set.", .form = SF_RR, .calc = calc);
