/* set_F: the F measure of the retrieved set, (b + 1) P R / (b P + R), with
   parameter b (default 1; named set_F_b when given). */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  if (!r->num_rel_ret) return;
  double P = (double)r->num_rel_ret / (double)r->num_ret, R = (double)r->num_rel_ret / (double)r->num_rel;
  double x = q->dv[0];
  out[0] = (x + 1.0) * P * R / (x * P + R);
}

SCORE_MEASURE(set_F, .help = "F of the retrieved set, (b+1)PR/(bP+R) (default b=1).", .form = SF_RR,
              .params = SP_DOUBLES, SCORE_DEFAULTS(1.0), .calc = calc);
