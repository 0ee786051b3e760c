/* prefs_num_prefs_ful_ret: preferences fulfilled between retrieved documents; summed. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_count(t->prefs, PF_RET, 0); }

SCORE_MEASURE(prefs_num_prefs_ful_ret, .help = "Preferences fulfilled between retrieved documents; summed.", .form = SF_PREFS, .kind = SV_LONG, .agg = SA_SUM, .calc = calc);
