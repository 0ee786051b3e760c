/* runid: the tag (6th field) of the run's last line. Summary only. */
#include "eval/score.h"

const score_measure score_m_runid = {
    .name = "runid",
    .help = "Run identifier: the tag of the last run line.",
    .agg = SA_RUNID,
};
