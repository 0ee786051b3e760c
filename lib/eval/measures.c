/* measures.c: the one table of measures. Order is trec_eval 10's printing
   order (its te_trec_measures), then otclir's XTREME-R measures. Adding a
   measure: a lib/measure_NAME.c defining score_m_NAME, and a line here. */
#include "eval/score.h"

#define M(n) extern const score_measure score_m_##n;
M(runid) M(num_q) M(num_ret) M(num_rel) M(num_rel_ret) M(map) M(gm_map) M(Rprec) M(bpref)
M(recip_rank) M(iprec_at_recall) M(P) M(relstring) M(recall) M(infAP) M(gm_bpref)
M(Rprec_mult) M(utility) M(11pt_avg) M(binG) M(G) M(ndcg) M(ndcg_rel) M(Rndcg) M(ndcg_cut)
M(map_cut) M(relative_P) M(success) M(set_P) M(set_relative_P) M(set_recall) M(set_map)
M(set_F) M(num_nonrel_judged_ret) M(rbp) M(rbp_resid) M(unj) M(xtreme_map) M(acc)
#undef M

const score_measure *const score_measures[] = {
    &score_m_runid,       &score_m_num_q,          &score_m_num_ret,
    &score_m_num_rel,     &score_m_num_rel_ret,    &score_m_map,
    &score_m_gm_map,      &score_m_Rprec,          &score_m_bpref,
    &score_m_recip_rank,  &score_m_iprec_at_recall, &score_m_P,
    &score_m_relstring,   &score_m_recall,         &score_m_infAP,
    &score_m_gm_bpref,    &score_m_Rprec_mult,     &score_m_utility,
    &score_m_11pt_avg,    &score_m_binG,           &score_m_G,
    &score_m_ndcg,        &score_m_ndcg_rel,       &score_m_Rndcg,
    &score_m_ndcg_cut,    &score_m_map_cut,        &score_m_relative_P,
    &score_m_success,     &score_m_set_P,          &score_m_set_relative_P,
    &score_m_set_recall,  &score_m_set_map,        &score_m_set_F,
    &score_m_num_nonrel_judged_ret, &score_m_rbp,  &score_m_rbp_resid,
    &score_m_unj,         &score_m_xtreme_map,     &score_m_acc,
};
const int score_num_measures = (int)(sizeof score_measures / sizeof score_measures[0]);
