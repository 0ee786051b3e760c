/* prefs_avgjg_imp: prefs_avgjg over preferences with at least one document retrieved. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_avgjg(t->prefs, PF_RET | PF_IMP, PF_RET | PF_IMP); }

SCORE_MEASURE(prefs_avgjg_imp, .help = "Prefs_avgjg over preferences with at least one document retrieved.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
