/* acc: accuracy@k as XTREME-R reports it for Tatoeba (k = 1): 1 if a
   relevant document is within the top k, success's calculation. The top is
   decided by score and then docid descending (Tatoeba's argmax takes the
   first index instead). Not in trec_eval. */
#include "eval/measure.h"

void score_success(const score_topic *t, const score_sel *q, double *out);

SCORE_MEASURE(acc, .help = "XTREME-R accuracy@k (Tatoeba: acc.1): the top k holds a relevant document (default k=1).",
              .form = SF_RR, .params = SP_LONG_CUTS, SCORE_DEFAULTS(1), .calc = score_success);
