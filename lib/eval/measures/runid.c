/* runid: the run's tag (the tag field of its last line); printed with the summary only. */
#include "eval/measure.h"

SCORE_MEASURE(runid, .help = "The run's tag (tag field of its last line); summary only.", .kind = SV_RUNID,
              .agg = SA_NONE);
