/* map_avgjg: average precision per judgement group (qrels_jg), averaged
   over the groups, then over topics. */
#include "eval/measure.h"

static void one(const score_rr *r, const score_topic *t, const score_sel *q, double *out) {
  out[0] = score_ap(r, t->level);
}

static void calc(const score_topic *t, const score_sel *q, double *out) { score_avg_jgs(t, q, out, one); }

SCORE_MEASURE(map_avgjg, .help = "map averaged over judgement groups (-R qrels_jg).", .form = SF_JG, .calc = calc);
