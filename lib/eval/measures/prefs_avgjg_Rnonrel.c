/* prefs_avgjg_Rnonrel: prefs_avgjg with as many non-relevant documents as relevant ones per group. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_avgjg_rnonrel(t->prefs, 0); }

SCORE_MEASURE(prefs_avgjg_Rnonrel, .help = "Prefs_avgjg with as many non-relevant documents as relevant ones per group.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
