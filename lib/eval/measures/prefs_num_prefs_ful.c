/* prefs_num_prefs_ful: preferences fulfilled (the preferred document ranks higher, or only it
   was retrieved); summed. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_count(t->prefs, PF_RET | PF_IMP, 0); }

SCORE_MEASURE(prefs_num_prefs_ful, .help = "Preferences fulfilled (the preferred document ranks higher, or only it was retrieved); summed.", .form = SF_PREFS, .kind = SV_LONG, .agg = SA_SUM, .calc = calc);
