/* prefs_simp_ret: prefs_simp over preferences between retrieved documents only. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_ratio(t->prefs, PF_RET, PF_RET); }

SCORE_MEASURE(prefs_simp_ret, .help = "Prefs_simp over preferences between retrieved documents only.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
