/* prefs_simp: preferences fulfilled / possible, over every judgement group. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_ratio(t->prefs, PF_RET | PF_IMP, PF_RET | PF_IMP | PF_NOTOCCUR); }

SCORE_MEASURE(prefs_simp, .help = "Preferences fulfilled / possible, over every judgement group.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
