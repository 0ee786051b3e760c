/* Rndcg: ndcg averaged at the R levels, the ranks where the ideal gain
   changes, and at the end of the ranking (experimental). */
#include "eval/measure.h"

typedef struct {
  double sum, old_gain;
  long changes;
} rlevels;

/* At a change of the ideal gain, the ndcg so far counts once. */
static void at_level(rlevels *s, double gain, double dcg, double ideal) {
  if (s->old_gain == gain) return;
  if (ideal > 0.0) s->sum += dcg / ideal, s->changes++;
  s->old_gain = gain;
}

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  if (r->num_rel == 0) return;
  score_gains g;
  score_ideal id;
  score_gains_ideal(&g, &id, r, q);
  rlevels s = {0.0, id.gain, 0};
  double dcg = 0.0, ideal = 0.0;
  long i = 0;
  for (; i < r->num_ret && id.gain > 0.0; i++) {
    double gain = score_gain_of(&g, r->rel[i]);
    score_ideal_next(&id);
    at_level(&s, id.gain, dcg, ideal);
    if (gain != 0) dcg += score_discount(gain, i);
    if (id.gain > 0.0) ideal += score_discount(id.gain, i);
  }
  if (i < r->num_ret) { /* the rest of the ranking, and its end counts too */
    for (; i < r->num_ret; i++) {
      double gain = score_gain_of(&g, r->rel[i]);
      if (gain != 0) dcg += score_discount(gain, i);
    }
    if (ideal > 0.0) s.sum += dcg / ideal, s.changes++;
  }
  for (; id.gain > 0.0; i++) {
    score_ideal_next(&id);
    at_level(&s, id.gain, dcg, ideal);
    if (id.gain > 0.0) ideal += score_discount(id.gain, i);
  }
  out[0] = s.sum / (double)s.changes; /* 0/0 (NaN) when no gain is positive, as trec_eval */
  score_gains_free(&g);
}

SCORE_MEASURE(Rndcg, .help = "ndcg averaged at the R levels (experimental).", .form = SF_RR, .params = SP_PAIRS,
              .calc = calc);
