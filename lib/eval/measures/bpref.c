/* bpref (Buckley & Voorhees 2004): for each relevant document retrieved,
   1 - (judged non-relevant above it, capped at R) / min(R, judged
   non-relevant); documents absent from the qrels or unjudged do not count. */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long num_nonrel = 0;
  for (long j = 0; j < o->relevance_level && j < t->num_rel_levels; j++) num_nonrel += t->rel_levels[j];
  long nonrel_so_far = 0;
  double bpref = 0.0;
  for (long i = 0; i < t->num_ret; i++) {
    int32_t r = t->rel[i];
    if (r < 0) continue;
    if (r < o->relevance_level) {
      nonrel_so_far++;
    } else if (nonrel_so_far > 0) {
      long a = nonrel_so_far < t->num_rel ? nonrel_so_far : t->num_rel;
      long b = num_nonrel < t->num_rel ? num_nonrel : t->num_rel;
      bpref += 1.0 - (double)a / (double)b;
    } else {
      bpref += 1.0;
    }
  }
  out[0] = t->num_rel ? bpref / (double)t->num_rel : bpref;
}

const score_measure score_m_bpref = {
    .name = "bpref",
    .help = "Binary preference: fraction of judged non-relevant documents ranked below each relevant one.",
    .agg = SA_MEAN,
    .calc = calc,
};
