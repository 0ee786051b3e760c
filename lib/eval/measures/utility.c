/* utility: p1*a + p2*b + p3*c + p4*d over the contingency table (a relevant
   retrieved, b non-relevant retrieved, c relevant missed, d non-relevant
   missed, which needs -N); default 1,-1,0,0. */
#include "eval/score.h"

static const double defaults[] = {1.0, -1.0, 0.0, 0.0};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  out[0] = p[0] * t->num_rel_ret + p[1] * (t->num_ret - t->num_rel_ret) +
           p[2] * (t->num_rel - t->num_rel_ret) +
           p[3] * (o->num_docs_in_coll + t->num_rel_ret - t->num_ret - t->num_rel);
}

const score_measure score_m_utility = {
    .name = "utility",
    .help = "Set utility p1*relret + p2*nonrelret + p3*relmissed + p4*nonrelmissed (default 1,-1,0,0).",
    .params = SP_DOUBLES,
    .ndefault = 4,
    .defaults = defaults,
    .nparams_exact = 4,
    .agg = SA_MEAN,
    .calc = calc,
};
