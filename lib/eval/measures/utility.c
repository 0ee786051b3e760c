/* utility: a * rel_ret + b * nonrel_ret + c * rel_not_ret + d * nonrel_not_ret
   with coefficients a,b,c,d (default 1,-1,0,0; the last term needs -N). */
#include "eval/measure.h"
#include <stdio.h>

#include "base/util.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  const double *p = q->dv;
  out[0] = p[0] * (double)r->num_rel_ret + p[1] * (double)(r->num_ret - r->num_rel_ret) +
           p[2] * (double)(r->num_rel - r->num_rel_ret) +
           p[3] * (double)(t->num_docs_in_coll + r->num_rel_ret - r->num_ret - r->num_rel);
}

static int check(const score_sel *q, char *err, size_t errlen) {
  if (q->ndv == 4) return 0;
  return set_err(err, errlen, "measure 'utility' takes 4 coefficients, got %d", q->ndv);
}

SCORE_MEASURE(utility, .help = "Set utility a*rel_ret + b*nonrel_ret + c*rel_missed + d*rest (default 1,-1,0,0).",
              .form = SF_RR, .params = SP_DOUBLES, SCORE_DEFAULTS(1.0, -1.0, 0.0, 0.0), .calc = calc, .check = check);
