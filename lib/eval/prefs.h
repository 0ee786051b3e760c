/* prefs.h: preference judgements counted over a ranking (trec_eval's
 * RESULTS_PREFS, made by its form_prefs_counts), for the prefs_* measures.
 *
 * Every docid of a topic's preference lines gets an internal rank: the
 * judged documents the run retrieved first, in ranking order (0 ..
 * num_judged_ret-1), then the others in docid order. Each judgement group
 * (jg) holds its preferences either as equivalence classes (one subgroup:
 * every document of a higher rel_level is preferred to every document of a
 * lower one) or, with several subgroups (jsg), as a preference matrix closed
 * under transitivity. A preference A > B is "ret" when both were retrieved,
 * "imp" (implied) when only one was, "notoccur" when neither was; it is
 * fulfilled when A ranks above B (or only A was retrieved).
 */
#ifndef OTC_PREFS_H
#define OTC_PREFS_H

#include <stddef.h>
#include <stdint.h>

#include "eval/measure.h"
#include "eval/trec.h"

typedef struct {
  double rel_level;
  long num_in_ec;
  long *docid_ranks;        /* ascending */
} score_ec;

typedef struct {
  score_ec *ecs;            /* by decreasing rel_level; num_ecs 0: matrix form */
  long num_ecs;
  unsigned char *pa;        /* matrix form: [num_judged][num_judged], pa[i][j]: i > j */
  double *rel_array;        /* matrix form: rel_level by internal rank, -1 if none */
  long ful_ret, poss_ret, ful_imp, poss_imp, poss_notoccur;
  long num_nonrel, num_nonrel_ret, num_rel, num_rel_ret;
} score_pref_jg;

struct score_prefs {
  long num_jgs;
  score_pref_jg *jgs;
  long num_judged, num_judged_ret;
  uint16_t *counts;         /* [num_judged][num_judged]: jgs preferring i to j */
};

/* Scratch memory reused from topic to topic. */
typedef struct score_prefs_work score_prefs_work;
score_prefs_work *score_prefs_work_new(void);
void score_prefs_work_free(score_prefs_work *w);

/* Form the preferences of topic `topic` over a ranking (entries of the run,
 * unsorted; at most max_docs of them count). The result lives in w until
 * the next call. -1 with err: a docid twice in the ranking, a document with
 * both zero and non-zero rel_level in one jg, contradictory preferences. */
int score_prefs_form(score_prefs_work *w, const trec_set *s, uint32_t topic, const trec_entry *e,
                     size_t n, long max_docs, score_prefs *out, char *err, size_t errlen);

/* Counts to sum in the ratios below. */
enum { PF_RET = 1, PF_IMP = 2, PF_NOTOCCUR = 4 };
/* Fulfilled (ful: PF_RET|PF_IMP) or possible (poss) preferences, summed over jgs. */
long score_prefs_count(const score_prefs *p, int ful, int poss);
/* Fulfilled / possible over all jgs (0 if nothing possible). */
double score_prefs_ratio(const score_prefs *p, int ful, int poss);
/* The same ratio per jg, averaged over jgs (trec_eval: 0 unless positive). */
double score_prefs_avgjg(const score_prefs *p, int ful, int poss);
/* Per pair of documents, the fraction of jgs preferring the higher-ranked:
   averaged over pairs (areas: PF_RET both retrieved, PF_IMP one retrieved;
   PF_NOTOCCUR counts pairs of unretrieved documents with no fraction). */
double score_prefs_pair(const score_prefs *p, int areas);
/* avgjg with each jg's non-relevant documents cut to as many as its
   relevant ones (ret_only: among retrieved documents). */
double score_prefs_avgjg_rnonrel(const score_prefs *p, int ret_only);

#endif
