/* prefs_pair_ret: prefs_pair over pairs of retrieved documents only. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_pair(t->prefs, PF_RET); }

SCORE_MEASURE(prefs_pair_ret, .help = "Prefs_pair over pairs of retrieved documents only.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
