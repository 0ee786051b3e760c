/* prefs_avgjg_ret: prefs_avgjg over preferences between retrieved documents only. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_avgjg(t->prefs, PF_RET, PF_RET); }

SCORE_MEASURE(prefs_avgjg_ret, .help = "Prefs_avgjg over preferences between retrieved documents only.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
