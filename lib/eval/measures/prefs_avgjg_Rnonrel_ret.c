/* prefs_avgjg_Rnonrel_ret: prefs_avgjg_Rnonrel over retrieved documents only. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_avgjg_rnonrel(t->prefs, 1); }

SCORE_MEASURE(prefs_avgjg_Rnonrel_ret, .help = "Prefs_avgjg_Rnonrel over retrieved documents only.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
