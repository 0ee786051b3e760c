/* prefs_pair: per document pair, the share of judgement groups whose preference the
   ranking fulfils, averaged over pairs. */
#include "eval/measure.h"
#include "eval/prefs.h"

static void calc(const score_topic *t, const score_sel *q, double *out) { out[0] = (double)score_prefs_pair(t->prefs, PF_RET | PF_IMP | PF_NOTOCCUR); }

SCORE_MEASURE(prefs_pair, .help = "Per document pair, the share of judgement groups whose preference the ranking fulfils, averaged over pairs.", .form = SF_PREFS, .kind = SV_DOUBLE, .calc = calc);
