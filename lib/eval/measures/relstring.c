/* relstring: the grades of the first N (default 10) documents as a string:
   0-9 as the digit, above 9 '>', absent from the qrels '-', pooled but
   unjudged (negative grade) '.'. Per topic only. */
#include "eval/score.h"

static const double defaults[] = {10};

static void calc_str(const score_topic *t, const score_opts *o, const double *p, int np, char *buf,
                     size_t len) {
  long n = np ? (long)p[0] : 10;
  if (n > t->num_ret) n = t->num_ret;
  if (n < 0) n = 0;
  if ((size_t)n >= len) n = (long)len - 1;
  for (long i = 0; i < n; i++) {
    int32_t r = t->rel[i];
    buf[i] = r > 9 ? '>' : r >= 0 ? (char)('0' + r) : r == TREC_NONPOOL ? '-' : r == TREC_UNJUDGED ? '.' : '<';
  }
  buf[n] = 0;
}

const score_measure score_m_relstring = {
    .name = "relstring",
    .help = "Grades of the first N documents as a string (default N=10); per topic only.",
    .params = SP_DOUBLES,
    .ndefault = 1,
    .defaults = defaults,
    .nparams_exact = 1,
    .agg = SA_NONE,
    .calc_str = calc_str,
};
