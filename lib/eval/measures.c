/* measures.c: the one table of measures and trec_eval's nicknames for sets
 * of them. Order is trec_eval 10's (its te_trec_measures), which is the
 * printing order, then otclir's XTREME-R measures. Adding a measure: a file
 * lib/eval/measures/NAME.c with SCORE_MEASURE(NAME, ...) and its entry here. */
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "eval/score.h"

#define MEASURES(X)                                                                                        \
  X(runid) X(num_q) X(num_ret) X(num_rel) X(num_rel_ret) X(map) X(gm_map) X(Rprec) X(bpref) X(recip_rank) \
  X(iprec_at_recall) X(P) X(relstring) X(recall) X(infAP) X(gm_bpref) X(Rprec_mult) X(utility)            \
  X(11pt_avg) X(binG) X(G) X(dcg) X(ideal_dcg) X(ndcg) X(ndcg_rel) X(Rndcg) X(ndcg_cut) X(map_cut)         \
  X(relative_P) X(success) X(set_P) X(set_relative_P) X(set_recall) X(set_map) X(set_F)                    \
  X(num_nonrel_judged_ret) X(prefs_num_prefs_poss) X(prefs_num_prefs_ful) X(prefs_num_prefs_ful_ret)       \
  X(prefs_simp) X(prefs_pair) X(prefs_avgjg) X(prefs_avgjg_Rnonrel) X(prefs_simp_ret) X(prefs_pair_ret)    \
  X(prefs_avgjg_ret) X(prefs_avgjg_Rnonrel_ret) X(prefs_simp_imp) X(prefs_pair_imp) X(prefs_avgjg_imp)     \
  X(map_avgjg) X(P_avgjg) X(Rprec_mult_avgjg) X(yaap) X(rbp) X(rbp_resid) X(unj) X(xtreme_map) X(acc)

#define DECLARE(n) extern const score_measure score_m_##n;
#define ENTRY(n) &score_m_##n,
MEASURES(DECLARE)
const score_measure *const score_measures[] = {MEASURES(ENTRY)};
const int score_num_measures = (int)(sizeof score_measures / sizeof score_measures[0]);

static const char *const official[] = {"runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map",
                                       "Rprec", "bpref", "recip_rank", "iprec_at_recall", "P", NULL};
static const char *const all_trec[] = {
    "runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref", "recip_rank",
    "iprec_at_recall", "P", "relstring", "recall", "unj", "rbp", "rbp_resid", "infAP", "gm_bpref", "utility",
    "11pt_avg", "ndcg", "relative_P", "Rprec_mult", "success", "map_cut", "ndcg_cut", "ndcg_rel", "Rndcg",
    "binG", "G", "set_P", "set_recall", "set_relative_P", "set_map", "set_F", "num_nonrel_judged_ret", NULL};
static const char *const set[] = {"runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "utility", "set_P",
                                  "set_recall", "set_relative_P", "set_map", "set_F", NULL};
static const char *const all_prefs[] = {
    "runid", "num_q", "prefs_num_prefs_poss", "prefs_num_prefs_ful", "prefs_num_prefs_ful_ret", "prefs_simp",
    "prefs_pair", "prefs_avgjg", "prefs_avgjg_Rnonrel", "prefs_simp_ret", "prefs_pair_ret", "prefs_avgjg_ret",
    "prefs_avgjg_Rnonrel_ret", "prefs_simp_imp", "prefs_pair_imp", "prefs_avgjg_imp", NULL};
static const char *const prefs[] = {"runid", "num_q", "prefs_num_prefs_poss", "prefs_num_prefs_ful",
                                    "prefs_num_prefs_ful_ret", "prefs_simp", "prefs_pair", "prefs_avgjg", NULL};
static const char *const qrels_jg[] = {"runid", "num_q", "map_avgjg", "P_avgjg", "Rprec_mult_avgjg", NULL};

const score_nickname score_nicknames[] = {
    {"official", official}, {"set", set}, {"all_trec", all_trec}, {"all_prefs", all_prefs},
    {"prefs", prefs},       {"qrels_jg", qrels_jg}, {NULL, NULL},
};

int score_measure_index(const char *name) {
  for (int i = 0; i < score_num_measures; i++)
    if (!strcmp(score_measures[i]->name, name)) return i;
  return -1;
}

/* The measure list of the manual: name, then its help wrapped at 79 columns. */
char *score_measures_help(void) {
  size_t cap = 16384, n = 0;
  char *out = xmalloc(cap);
  for (int i = 0; i < score_num_measures; i++) {
    const char *h = score_measures[i]->help;
    if (cap - n < 1024 + strlen(h)) out = xrealloc(out, cap *= 2);
    n += (size_t)sprintf(out + n, "  %-22s", score_measures[i]->name);
    int col = 24;
    while (*h) {
      size_t w = strcspn(h, " ");
      if (col + 1 + (int)w > 79 && col > 25) {
        n += (size_t)sprintf(out + n, "\n%25s", "");
        col = 25;
      } else {
        out[n++] = ' ';
        col++;
      }
      memcpy(out + n, h, w);
      n += w;
      col += (int)w;
      h += w;
      h += strspn(h, " ");
    }
    out[n++] = '\n';
  }
  out[n] = 0;
  return out;
}
