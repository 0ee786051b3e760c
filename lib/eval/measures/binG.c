/* binG: binary G, the mean over relevant documents of
   1 / log2(2 + non-relevant documents ranked above it). Experimental. */
#include <math.h>

#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long rel_so_far = 0;
  double sum = 0.0;
  for (long i = 0; i < t->num_ret; i++)
    if (score_is_rel(t, o, i)) {
      rel_so_far++;
      sum += 1.0 / log2((double)(3 + i - rel_so_far));
    }
  out[0] = rel_so_far ? sum / (double)t->num_rel : 0.0;
}

const score_measure score_m_binG = {
    .name = "binG",
    .help = "Binary G: mean of 1/log2(2 + non-relevant above) over relevant documents (experimental).",
    .agg = SA_MEAN,
    .calc = calc,
};
