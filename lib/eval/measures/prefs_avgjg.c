/* prefs_avgjg: prefs_simp per judgement group, averaged over groups. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_avgjg(t->prefs, PF_RET | PF_IMP, PF_RET | PF_IMP | PF_NOTOCCUR); }

SCORE_MEASURE(prefs_avgjg, .help = "Prefs_simp per judgement group, averaged over groups.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
