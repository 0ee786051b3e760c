/* num_rel: judged documents with grade >= -l; summed over topics. With -c the
   sum is trec_eval's: every judgement with grade > 0, whatever -l says. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)t->rr->num_rel; }

SCORE_MEASURE(num_rel, .help = "Relevant documents judged; sum over topics (-c: grades > 0, ignoring -l, as trec_eval).",
              .form = SF_RR, .kind = SV_LONG, .agg = SA_NUM_REL, .calc = calc);
