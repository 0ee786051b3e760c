/* num_nonrel_judged_ret: retrieved documents judged non-relevant (grade
   below the relevance level, not negative). */
#include "eval/score.h"

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long n = 0;
  for (long i = 0; i < t->num_ret; i++) n += t->rel[i] >= 0 && t->rel[i] < o->relevance_level;
  out[0] = (double)n;
}

const score_measure score_m_num_nonrel_judged_ret = {
    .name = "num_nonrel_judged_ret",
    .help = "Number of retrieved documents judged non-relevant (summed over topics).",
    .agg = SA_SUM,
    .calc = calc,
};
