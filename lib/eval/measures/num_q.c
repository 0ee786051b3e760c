/* num_q: the number of topics evaluated (with -c, every topic of the
   judgements); summary only. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = 1; }

SCORE_MEASURE(num_q, .help = "Number of topics evaluated (-c: every topic judged); summary only.", .kind = SV_LONG,
              .agg = SA_NUM_Q, .calc = calc);
