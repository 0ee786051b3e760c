/* infAP (Yilmaz & Aslam, CIKM 2006): average precision estimated from a
   sampled pool; documents absent from the pool count as non-relevant,
   pooled but unjudged ones (negative grades) are assumed relevant in the
   proportion of the judged ones. */
#include "eval/score.h"

#define INFAP_EPSILON 0.00001

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long nonrel_so_far = 0, rel_so_far = 0, unjudged_so_far = 0;
  double inf_ap = 0.0;
  for (long j = 0; j < t->num_ret; j++) {
    int32_t r = t->rel[j];
    if (r == TREC_NONPOOL) continue;
    if (r == TREC_UNJUDGED) {
      unjudged_so_far++;
      continue;
    }
    if (r >= 0 && r < o->relevance_level) {
      nonrel_so_far++;
      continue;
    }
    rel_so_far++;
    if (j == 0) {
      inf_ap += 1.0;
    } else {
      double fj = (double)j;
      inf_ap += 1.0 / (fj + 1.0) +
                (fj / (fj + 1.0)) * ((rel_so_far - 1 + nonrel_so_far + unjudged_so_far) / fj) *
                    ((rel_so_far - 1 + INFAP_EPSILON) /
                     (rel_so_far - 1 + nonrel_so_far + 2 * INFAP_EPSILON));
    }
  }
  out[0] = t->num_rel ? inf_ap / (double)t->num_rel : inf_ap;
}

const score_measure score_m_infAP = {
    .name = "infAP",
    .help = "Inferred average precision for sampled judgements (negative grade = pooled, unjudged).",
    .agg = SA_MEAN,
    .calc = calc,
};
