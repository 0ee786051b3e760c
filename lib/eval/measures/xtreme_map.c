/* xtreme_map: mAP@k as LAReQA and Mewsli-X report it in XTREME-R: the sum
   of the precision at each relevant document within the top k, divided by
   min(num_rel, k). trec_eval's map_cut divides the same sum by num_rel, so
   a topic with more relevant documents than k can reach 1 here but not
   there. Ties follow the common ranking rule (score, then docid descending).
   Default k = 20. */
#include "eval/score.h"

static const double defaults[] = {20};

static void calc(const score_topic *t, const score_opts *o, const double *p, int np, double *out) {
  long rel_so_far = 0, i = 0;
  double sum = 0.0;
  for (int c = 0; c < np; c++) {
    long k = score_cut(p[c]);
    for (; i < k && i < t->num_ret; i++)
      if (score_is_rel(t, o, i)) sum += (double)++rel_so_far / (double)(i + 1);
    long denom = t->num_rel < k ? t->num_rel : k;
    out[c] = denom ? sum / (double)denom : 0.0;
  }
}

const score_measure score_m_xtreme_map = {
    .name = "xtreme_map",
    .help = "XTREME-R mAP@k (LAReQA, Mewsli-X): AP over the top k / min(num_rel, k) (default k=20).",
    .params = SP_LONG_CUTS,
    .ndefault = 1,
    .defaults = defaults,
    .agg = SA_MEAN,
    .calc = calc,
};
