/* num_q: number of topics evaluated (the qrels topics). Summary only. */
#include "eval/score.h"

const score_measure score_m_num_q = {
    .name = "num_q",
    .help = "Number of topics evaluated: every qrels topic (run-only topics are ignored).",
    .agg = SA_NUM_Q,
};
