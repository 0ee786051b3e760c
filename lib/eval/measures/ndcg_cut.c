/* ndcg_cut: ndcg over the top k documents, gains the grades. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  const score_rr *r = t->rr;
  const long *cut = q->lcut;
  int n = q->nvalues, c = 0;
  double sum = 0.0, ideal = 0.0;
  for (long i = 0; i < r->num_ret; i++) {
    if (i == cut[c] && (out[c] = sum, ++c == n)) break;
    if (r->rel[i] > 0) sum += score_discount((double)r->rel[i], i);
  }
  for (; c < n; c++) out[c] = sum;
  /* The ideal ranking: grades from the highest down to 1 (trec_eval's walk;
     without any grade it runs on to the last cutoff). */
  long lvl = r->num_rel_levels - 1, count = 0;
  c = 0;
  for (long i = 0;; i++) {
    for (count++; lvl > 0 && count > r->rel_levels[lvl]; count = 1) lvl--;
    if (lvl == 0) break;
    if (i == cut[c]) {
      if (ideal > 0.0) out[c] /= ideal;
      if (++c == n) break;
    }
    ideal += score_discount((double)lvl, i);
  }
  for (; c < n; c++)
    if (ideal > 0.0) out[c] /= ideal;
}

SCORE_MEASURE(ndcg_cut, .help = "ndcg at k, gains = grades (default 5,10,15,20,30,100,200,500,1000).", .form = SF_RR,
              .params = SP_LONG_CUTS, SCORE_DEFAULTS(5, 10, 15, 20, 30, 100, 200, 500, 1000), .calc = calc);
