/* relstring: the grades of the first N documents (default 10) as a string:
   0-9 as the digit, above 9 '>', unjudged '-' (absent) or '.' (negative);
   per topic only. */
#include "eval/measure.h"
#include <stdlib.h>

#include "base/util.h"

static char *calc_str(const score_topic *t, const score_sel *q) {
  double want = q->dv[0];
  long n = want > (double)t->rr->num_ret ? t->rr->num_ret : want > 0 ? (long)want : 0;
  char *s = xmalloc((size_t)n + 1);
  for (long i = 0; i < n; i++) {
    int32_t r = t->rr->rel[i];
    s[i] = r > 9 ? '>' : r >= 0 ? (char)('0' + r) : r == TREC_NONPOOL ? '-' : r == TREC_UNJUDGED ? '.' : '<';
  }
  s[n] = 0;
  return s;
}

SCORE_MEASURE(relstring, .help = "Grades of the first N documents as a string (default N=10); per topic only.",
              .form = SF_RR, .params = SP_DOUBLES, SCORE_DEFAULTS(10), .kind = SV_STRING, .agg = SA_NONE,
              .calc_str = calc_str);
