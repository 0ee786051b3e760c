/* bpref (Buckley & Voorhees 2004): for each relevant document retrieved, the
   share of the first R judged non-relevant documents ranked below it. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = score_bpref(t->rr, t->level); }

SCORE_MEASURE(bpref, .help = "Binary preference: judged documents only.", .form = SF_RR, .calc = calc);
