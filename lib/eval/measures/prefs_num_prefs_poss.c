/* prefs_num_prefs_poss: preferences possible (both, one or neither document retrieved); summed. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_count(t->prefs, 0, PF_RET | PF_IMP | PF_NOTOCCUR); }

SCORE_MEASURE(prefs_num_prefs_poss, .help = "Preferences possible (both, one or neither document retrieved); summed.", .form = SF_PREFS, .kind = SV_LONG, .agg = SA_SUM, .calc = calc);
