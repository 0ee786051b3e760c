/* acc: accuracy@k as XTREME-R reports it for Tatoeba (k = 1): 1 if a
   relevant document is within the top k. With k = 1 it is success_1: the
   top-ranked document is relevant, the top being decided by score and then
   by docid descending (Tatoeba's argmax takes the first index instead). */
#include "eval/score.h"

static const double defaults[] = {1};

const score_measure score_m_acc = {
    .name = "acc",
    .help = "XTREME-R accuracy@k (Tatoeba: acc.1): the top k holds a relevant document (default k=1).",
    .params = SP_LONG_CUTS,
    .ndefault = 1,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = score_calc_success,
};
