/* xtreme_map: mAP@k as LAReQA and Mewsli-X report it in XTREME-R: the sum
   of the precision at each relevant document within the top k, divided by
   min(num_rel, k). trec_eval's map_cut divides the same sum by num_rel, so
   a topic with more relevant documents than k can reach 1 here but not
   there. Default k = 20. Not in trec_eval. */
#include "eval/measure.h"

static void calc(const score_topic *t, const score_sel *q, double *out) {
  score_ap_at(t->rr, t->level, q->lcut, q->nvalues, out);
  for (int c = 0; c < q->nvalues; c++) {
    long denom = t->rr->num_rel < q->lcut[c] ? t->rr->num_rel : q->lcut[c];
    out[c] = denom ? out[c] / (double)denom : 0.0;
  }
}

SCORE_MEASURE(xtreme_map, .help = "XTREME-R mAP@k (LAReQA, Mewsli-X): AP over the top k / min(num_rel, k) (default k=20).",
              .form = SF_RR, .params = SP_LONG_CUTS, SCORE_DEFAULTS(20), .calc = calc);
