/* infAP (Yilmaz & Aslam 2006): average precision estimated from a sampled
   pool; documents absent from the judgements are skipped, pooled but
   unjudged ones (negative grades) are assumed relevant in the judged ratio. */
#include "eval/measure.h"

#define INFAP_EPSILON .00001

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  long nonrel = 0, rel = 0, unjudged = 0;
  double inf_ap = 0.0;
  for (long j = 0; j < r->num_ret; j++) {
    int32_t g = r->rel[j];
    if (g == TREC_NONPOOL) continue;
    if (g == TREC_UNJUDGED) {
      unjudged++;
    } else if (g >= 0 && g < t->level) {
      nonrel++;
    } else if (++rel, j == 0) {
      inf_ap += 1.0;
    } else {
      double fj = (double)j;
      inf_ap += 1.0 / (fj + 1.0) + (fj / (fj + 1.0)) * ((double)(rel - 1 + nonrel + unjudged) / fj) *
                                       ((rel - 1 + INFAP_EPSILON) / (rel - 1 + nonrel + 2 * INFAP_EPSILON));
    }
  }
  if (r->num_rel) inf_ap /= (double)r->num_rel;
  out[0] = inf_ap;
}

SCORE_MEASURE(infAP, .help = "Inferred average precision (sampled pools; negative grades = pooled, unjudged).",
              .form = SF_RR, .calc = calc);
