/* score.c: evaluating a run with the selected measures, and trec_eval's
 * output (see score.h). One topic at a time: its ranking, the forms its
 * measures read (measure.h), their values; then trec_eval's fix-ups for a
 * missing topic (-c) and Z-scores (-Z). */
#include "eval/score.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/trec_lines.h"
#include "eval/prefs.h"

void score_opts_default(score_opts *o) {
  memset(o, 0, sizeof *o);
  o->relevance_level = 1;
  o->max_docs = LONG_MAX;
}

/* Scratch memory reused from topic to topic. */
typedef struct {
  trec_entry *rank;
  uint64_t *hash;
  uint32_t *dup;
  int32_t *rel;
  long *levels;
  score_rr *jgs;
  size_t cap_rank, cap_hash, cap_dup, cap_rel, cap_levels, cap_jgs;
  trec_judged_index ix;
  score_prefs_work *pw;
  long *stale;              /* --compat: the grade counts of the last topic */
  long nstale;
  int have_stale;
} work;

static void work_free(work *w) {
  void *arrays[] = {w->rank, w->hash, w->dup, w->rel, w->levels, w->jgs, w->stale};
  for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) free(arrays[i]);
  trec_judged_index_free(&w->ix);
  score_prefs_work_free(w->pw);
}

/* The first docid that occurs twice among e[0..n) (hashes h), or NULL. */
static const trec_entry *find_duplicate(work *w, const trec_entry *e, size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  w->dup = trec_grow(w->dup, &w->cap_dup, cap, sizeof *w->dup);
  uint32_t *t = w->dup;
  memset(t, 0xff, cap * sizeof *t);
  for (size_t i = 0; i < n; i++) {
    size_t k = w->hash[i] & (cap - 1);
    for (; t[k] != UINT32_MAX; k = (k + 1) & (cap - 1)) {
      const trec_entry *o = &e[t[k]];
      if (w->hash[t[k]] == w->hash[i] && o->docid_len == e[i].docid_len && !memcmp(o->docid, e[i].docid, o->docid_len))
        return &e[i];
    }
    t[k] = (uint32_t)i;
  }
  return NULL;
}

/* The ranking of a topic: sorted, cut to -M, without a docid twice. */
static int form_ranking(work *w, const trec_run *run, const trec_topic *tp, const trec_entry *src, size_t *n,
                        const score_opts *o, char *err, size_t errlen) {
  w->rank = trec_grow(w->rank, &w->cap_rank, *n, sizeof *w->rank);
  memcpy(w->rank, src, *n * sizeof *src);
  trec_sort_ranking(w->rank, *n, TREC_TIES_DESC);
  if ((long)*n > o->max_docs) *n = (size_t)o->max_docs;
  w->hash = trec_grow(w->hash, &w->cap_hash, *n, sizeof *w->hash);
  for (size_t i = 0; i < *n; i++) w->hash[i] = trec_hash_docid(w->rank[i].docid, w->rank[i].docid_len);
  const trec_entry *d = find_duplicate(w, w->rank, *n);
  if (!d) return 0;
  char place[48] = "the stand-in ranking";
  if (run) trec_run_entry_place(run, d, place, sizeof place);
  return set_err(err, errlen, "%s: %s: docid '%.*s' occurs twice in topic '%s'", run ? run->name : "-", place,
                 (int)(d->docid_len > 80 ? 80 : d->docid_len), d->docid, tp->qid);
}

/* Grades of the ranking against judgement set jg (trec_eval's RES_RELS):
   rel and levels are the caller's buffers. */
static int form_rr(work *w, const trec_set *s, uint32_t jgi, size_t n, const score_opts *o, int32_t *rel,
                   long *levels, score_rr *rr, char *err, size_t errlen) {
  const trec_jg *jg = &s->jg[jgi];
  memset(rr, 0, sizeof *rr);
  long nlev = jg->max_grade >= 0 ? jg->max_grade + 1 : 0;
  memset(levels, 0, (size_t)(nlev ? nlev : 1) * sizeof *levels);
  for (uint32_t k = 0; k < jg->judged_n; k++) {
    int32_t g = s->judged[jg->judged_begin + k].grade;
    if (g >= 0) levels[g]++;
  }
  rr->rel_levels = levels;
  rr->num_rel_levels = nlev;
  for (long g = o->relevance_level > 0 ? o->relevance_level : 0; g < nlev; g++) rr->num_rel += levels[g];
  if (jg->max_grade < 0 && o->compat && s->format == TREC_QRELS) {
    /* trec_eval keeps the previous topic's counts here (none: it fails). */
    if (!w->have_stale)
      return set_err(err, errlen, "topic '%.*s' has no grade >= 0 (trec_eval: \"Can't calculate measure\")",
                     (int)jg->name_len, jg->name);
    rr->rel_levels = w->stale;
    rr->num_rel_levels = w->nstale;
  } else if (s->format == TREC_QRELS) {
    w->stale = xrealloc(w->stale, (size_t)(nlev ? nlev : 1) * sizeof *w->stale);
    memcpy(w->stale, levels, (size_t)nlev * sizeof *levels);
    w->nstale = nlev;
    w->have_stale = 1;
  }
  trec_judged_index_build(&w->ix, s, jgi);
  long k = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t g = trec_judged_index_grade(&w->ix, w->rank[i].docid, w->rank[i].docid_len, w->hash[i]);
    if (o->judged_only && g < 0) continue;
    rel[k++] = g;
    if (g == TREC_NONPOOL) rr->num_nonpool++; /* in this order, as trec_eval (-l -1) */
    else if (g == TREC_UNJUDGED) rr->num_unjudged_in_pool++;
    else if (g >= o->relevance_level) rr->num_rel_ret++;
  }
  rr->num_ret = k;
  rr->rel = rel;
  return 0;
}

/* trec_eval's stand-in for a topic missing from the run (-c). */
static const trec_entry missing_topic = {"ceci_nest_pas_un_docno", 1.0, 22, 0};

/* trec_eval's clean-up after the stand-in: these values go back to 0. */
static int zeroed_after_stand_in(const char *name) {
  return !strcmp(name, "num_ret") || !strcmp(name, "utility") || !strncmp(name, "unj", 3) ||
         !strcmp(name, "rbp_resid") || !strcmp(name, "relstring");
}

static const char *const form_needs[] = {[TREC_QRELS] = "qrels", [TREC_QRELS_JG] = "qrels_jg",
                                         [TREC_PREFS] = "prefs or qrels_prefs"};

static int check_forms(const trec_set *s, const score_selection *sel, int need[4], char *err, size_t errlen) {
  static const score_form gives[] = {[TREC_QRELS] = SF_RR, [TREC_QRELS_JG] = SF_JG, [TREC_PREFS] = SF_PREFS,
                                     [TREC_QRELS_PREFS] = SF_PREFS};
  memset(need, 0, 4 * sizeof *need);
  for (int m = 0; m < sel->nsel; m++) {
    score_form f = sel->sel[m].m->form;
    if (f != SF_NONE && f != gives[s->format])
      return set_err(err, errlen, "measure '%s' needs relevance information in format %s (-R), not %s",
                     sel->sel[m].m->name, form_needs[f == SF_RR ? TREC_QRELS : f == SF_JG ? TREC_QRELS_JG : TREC_PREFS],
                     trec_format_names[s->format]);
    need[f] = 1;
  }
  return 0;
}

/* One topic's values into row (and its strings). */
static int eval_topic(work *w, const trec_set *s, const trec_run *run, uint32_t t, const score_selection *sel,
                      const score_opts *o, const int need[4], double *row, char **str, char *err, size_t errlen) {
  const trec_topic *tp = &s->topic[t];
  const trec_entry *src = &missing_topic;
  size_t n = 1;
  if (t < run->ntopics && run->topic_begin[t + 1] > run->topic_begin[t]) {
    src = run->e + run->topic_begin[t];
    n = run->topic_begin[t + 1] - run->topic_begin[t];
  } else if (!o->complete) {
    return set_err(err, errlen, "judged topic '%s' has no line in run %s (-c scores it as trec_eval's stand-in ranking)",
                   tp->qid, run->name);
  }
  score_topic st = {.qid = tp->qid, .level = o->relevance_level, .num_docs_in_coll = o->num_docs_in_coll};
  score_rr rr;
  score_prefs prefs;
  if (need[SF_RR] || need[SF_JG]) {
    if (form_ranking(w, src == &missing_topic ? NULL : run, tp, src, &n, o, err, errlen)) return -1;
    size_t njg = need[SF_JG] ? tp->jg_n : 1;
    w->rel = trec_grow(w->rel, &w->cap_rel, xmul(njg, n ? n : 1), sizeof *w->rel);
    long maxlev = 1;
    for (uint32_t j = 0; j < tp->jg_n; j++)
      if (s->jg[tp->jg_begin + j].max_grade + 1 > maxlev) maxlev = s->jg[tp->jg_begin + j].max_grade + 1;
    w->levels = trec_grow(w->levels, &w->cap_levels, xmul(njg, (size_t)maxlev), sizeof *w->levels);
    w->jgs = trec_grow(w->jgs, &w->cap_jgs, njg, sizeof *w->jgs);
    for (size_t j = 0; j < njg; j++)
      if (form_rr(w, s, tp->jg_begin + (uint32_t)j, n, o, w->rel + j * n, w->levels + j * (size_t)maxlev,
                  need[SF_JG] ? &w->jgs[j] : &rr, err, errlen))
        return -1;
    st.rr = &rr;
    st.jgs = w->jgs;
    st.num_jgs = (long)njg;
  }
  if (need[SF_PREFS]) {
    if (!w->pw) w->pw = score_prefs_work_new();
    if (score_prefs_form(w->pw, s, t, src, n, o->max_docs, &prefs, err, errlen)) return -1;
    st.prefs = &prefs;
  }
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    if (q->m->calc) q->m->calc(&st, q, row + q->col);
    if (q->m->calc_str) str[m] = q->m->calc_str(&st, q);
    if (src != &missing_topic) continue;
    for (int i = 0; i < q->nvalues; i++)
      if (zeroed_after_stand_in(q->names[i])) {
        row[q->col + i] = 0.0;
        if (str[m]) str[m][0] = 0;
      }
  }
  return 0;
}

int score_evaluate(const trec_set *s, const trec_run *run, const score_selection *sel, const score_opts *o,
                   const trec_zscores *z, score_result *res, char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  int need[4];
  if (check_forms(s, sel, need, err, errlen)) return -1;
  uint32_t nq = s->nqrels_topics;
  res->ncols = sel->ncols;
  res->nsel = sel->nsel;
  res->runid = run->tag;
  res->set = s;
  res->num_q_rels = nq;
  res->complete = o->complete;
  res->zscores = z != NULL;
  for (uint32_t i = 0; i < nq; i++) res->num_rel_pos += s->topic[s->qrels_order[i]].num_rel_pos;
  res->topic = xmalloc(((size_t)nq + 1) * sizeof *res->topic);
  res->v = xcalloc(((size_t)nq + 1) * (size_t)(sel->ncols ? sel->ncols : 1), sizeof *res->v);
  res->str = xcalloc(((size_t)nq + 1) * (size_t)(sel->nsel ? sel->nsel : 1), sizeof *res->str);
  work w = {0};
  int rc = 0;
  for (uint32_t qi = 0; qi < nq && !rc; qi++) {
    uint32_t t = s->qrels_order[qi];
    if (o->only_qid && strcmp(o->only_qid, s->topic[t].qid)) continue;
    uint32_t row = res->ntopics;
    double *v = res->v + (size_t)row * (size_t)sel->ncols;
    res->topic[row] = t;
    res->ntopics++;
    rc = eval_topic(&w, s, run, t, sel, o, need, v, res->str + (size_t)row * (size_t)sel->nsel, err, errlen);
    for (int m = 0; z && !rc && m < sel->nsel; m++)
      for (int i = 0; i < sel->sel[m].nvalues; i++) {
        double *x = &v[sel->sel[m].col + i];
        *x = trec_zscore_convert(z, s->topic[t].qid, sel->sel[m].names[i], *x);
      }
  }
  work_free(&w);
  if (!rc && res->ntopics == 0)
    rc = set_err(err, errlen, "no topic has both results and relevance information%s", o->only_qid ? " (-D)" : "");
  if (rc) score_result_free(res);
  return rc;
}

void score_result_free(score_result *r) {
  if (r->str)
    for (size_t i = 0; i < (size_t)(r->ntopics + 1) * (size_t)r->nsel; i++) free(r->str[i]);
  free(r->str);
  free(r->topic);
  free(r->v);
  memset(r, 0, sizeof *r);
}

/* ---------------- output ---------------- */

static void print_value(FILE *f, const score_sel *q, const score_result *r, int i, const char *label, double v) {
  if (q->m->kind == SV_LONG && !r->zscores) fprintf(f, "%-22s\t%s\t%ld\n", q->names[i], label, (long)v);
  else fprintf(f, "%s%-22s\t%s\t%6.4f\n", r->zscores ? "Z" : "", q->names[i], label, v);
}

void score_print_topic(FILE *f, const score_selection *sel, const score_result *r, uint32_t row) {
  const double *v = r->v + (size_t)row * (size_t)r->ncols;
  const char *qid = r->set->topic[r->topic[row]].qid;
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    if (q->m->kind == SV_STRING) {
      const char *sv = r->str[(size_t)row * (size_t)r->nsel + (size_t)m];
      fprintf(f, "%-22s\t%s\t'%s'\n", q->names[0], qid, sv ? sv : "");
    } else if (q->m->kind != SV_RUNID && q->m->agg != SA_GEOMEAN && q->m->agg != SA_NUM_Q) {
      for (int i = 0; i < q->nvalues; i++) print_value(f, q, r, i, qid, v[q->col + i]);
    }
  }
}

double score_summary_value(const score_sel *q, const score_result *r, int col, const uint32_t *rows,
                           uint32_t nrows) {
  int whole = !rows;
  if (whole) nrows = r->ntopics;
  /* Over every topic, -c counts the judged topics (trec_eval). */
  double n = whole && r->complete ? (double)r->num_q_rels : (double)nrows;
  if (q->m->agg == SA_NUM_Q) return n;
  if (q->m->agg == SA_NUM_REL && whole && r->complete) return (double)r->num_rel_pos;
  double sum = 0;
  for (uint32_t i = 0; i < nrows; i++) sum += r->v[(size_t)(rows ? rows[i] : i) * (size_t)r->ncols + (size_t)col];
  switch (q->m->agg) {
  case SA_MEAN:
    return n > 0 ? sum / n : sum;
  case SA_GEOMEAN:
    if (n <= 0) return sum;
    sum += (n - nrows) * log(SCORE_MIN_GEO_MEAN);
    return exp(sum / n);
  default:
    return sum;
  }
}

void score_print_summary(FILE *f, const score_selection *sel, const score_result *r, const uint32_t *rows,
                         uint32_t nrows, const char *label) {
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    if (q->m->kind == SV_RUNID) fprintf(f, "%-22s\t%s\t%s\n", "runid", label, r->runid ? r->runid : "");
    if (q->m->agg == SA_NONE) continue;
    for (int i = 0; i < q->nvalues; i++)
      print_value(f, q, r, i, label, score_summary_value(q, r, q->col + i, rows, nrows));
  }
}

void score_print(FILE *f, const score_selection *sel, const score_result *r, int per_topic, int summary) {
  for (uint32_t i = 0; per_topic && i < r->ntopics; i++) score_print_topic(f, sel, r, i);
  if (summary) score_print_summary(f, sel, r, NULL, 0, "all");
}
