/* score.c: evaluating runs with the measures of lib/measures.c (see score.h). */
#include "eval/score.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MIN_GEO_MEAN 0.00001 /* trec_eval's floor before taking logs */

void score_opts_default(score_opts *o) {
  memset(o, 0, sizeof *o);
  o->relevance_level = 1;
  o->max_docs = LONG_MAX;
}

/* ---------------- selection ---------------- */

static const char *const nick_official[] = {"runid", "num_q", "num_ret", "num_rel", "num_rel_ret",
                                            "map", "gm_map", "Rprec", "bpref", "recip_rank",
                                            "iprec_at_recall", "P", NULL};
static const char *const nick_set[] = {"runid", "num_q", "num_ret", "num_rel", "num_rel_ret",
                                       "utility", "set_P", "set_recall", "set_relative_P",
                                       "set_map", "set_F", NULL};
static const char *const nick_all_trec[] = {
    "runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref",
    "recip_rank", "iprec_at_recall", "P", "relstring", "recall", "infAP", "gm_bpref", "utility",
    "11pt_avg", "ndcg", "relative_P", "Rprec_mult", "success", "map_cut", "ndcg_cut", "ndcg_rel",
    "Rndcg", "binG", "G", "set_P", "set_recall", "set_relative_P", "set_map", "set_F",
    "num_nonrel_judged_ret", "rbp", "rbp_resid", "unj", NULL};

const score_measure *score_measure_find(const char *name) {
  for (int i = 0; i < score_num_measures; i++)
    if (!strcmp(score_measures[i]->name, name)) return score_measures[i];
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int parse_params(const score_measure *m, const char *text, double **out, int *nout,
                        char *err, size_t errlen) {
  int n = 1;
  for (const char *p = text; *p; p++) n += *p == ',';
  double *v = xmalloc(xmul((size_t)n, sizeof *v));
  const char *p = text;
  for (int i = 0; i < n; i++) {
    char *stop;
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char tmp[64];
    if (len == 0 || len >= sizeof tmp) goto bad;
    memcpy(tmp, p, len);
    tmp[len] = 0;
    if (m->params == SP_LONG_CUTS) {
      long x = strtol(tmp, &stop, 10);
      if (*stop || x <= 0) goto bad;
      v[i] = (double)x;
    } else {
      v[i] = strtod(tmp, &stop);
      if (*stop || !isfinite(v[i])) goto bad;
      if (m->params == SP_DOUBLE_CUTS && (v[i] < 0 || v[i] > 1e6)) goto bad;
    }
    p = comma ? comma + 1 : p + len;
  }
  if (m->params == SP_LONG_CUTS || m->params == SP_DOUBLE_CUTS) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    for (int i = 1; i < n; i++)
      if (v[i] == v[i - 1]) {
        set_err(err, errlen, "measure '%s': cutoff %g given twice", m->name, v[i]);
        free(v);
        return -1;
      }
  }
  *out = v;
  *nout = n;
  return 0;
bad:
  set_err(err, errlen, "measure '%s': bad parameter list '%s' (%s)", m->name, text,
          m->params == SP_LONG_CUTS ? "positive integers, comma-separated"
                                    : "numbers, comma-separated");
  free(v);
  return -1;
}

static void sel_free_one(score_sel *s) {
  free(s->params);
  if (s->names)
    for (int i = 0; i < s->nvalues; i++) free(s->names[i]);
  free(s->names);
  memset(s, 0, sizeof *s);
}

static int select_one(score_selection *s, const char *name, size_t nlen, const char *params,
                      char *err, size_t errlen) {
  char nm[64];
  if (nlen >= sizeof nm) nlen = sizeof nm - 1;
  memcpy(nm, name, nlen);
  nm[nlen] = 0;
  const score_measure *m = score_measure_find(nm);
  if (!m) {
    set_err(err, errlen, "unknown measure '%s' (see --help for the list)", nm);
    return -1;
  }
  double *pv = NULL;
  int np = 0;
  if (params) {
    if (m->params == SP_NONE) {
      set_err(err, errlen, "measure '%s' takes no parameters", nm);
      return -1;
    }
    if (parse_params(m, params, &pv, &np, err, errlen)) return -1;
    if (m->nparams_exact && np != m->nparams_exact) {
      set_err(err, errlen, "measure '%s' takes %d parameters, got %d", nm, m->nparams_exact, np);
      free(pv);
      return -1;
    }
  } else if (m->ndefault) {
    pv = xmalloc(xmul((size_t)m->ndefault, sizeof *pv));
    memcpy(pv, m->defaults, (size_t)m->ndefault * sizeof *pv);
    np = m->ndefault;
  }
  int k;
  for (k = 0; k < s->nsel && s->sel[k].m != m; k++) {
  }
  if (k == s->nsel) {
    s->sel = xrealloc(s->sel, xmul((size_t)s->nsel + 1, sizeof *s->sel));
    s->nsel++;
  } else {
    /* Named again: the later parameters win. */
    sel_free_one(&s->sel[k]);
  }
  score_sel *q = &s->sel[k];
  memset(q, 0, sizeof *q);
  q->m = m;
  q->params = pv;
  q->nparams = np;
  int cuts = m->params == SP_LONG_CUTS || m->params == SP_DOUBLE_CUTS;
  q->nvalues = cuts ? np : 1;
  q->names = xmalloc(xmul((size_t)q->nvalues, sizeof *q->names));
  for (int i = 0; i < q->nvalues; i++) {
    char buf[128];
    if (m->params == SP_LONG_CUTS)
      snprintf(buf, sizeof buf, "%s_%ld", m->name, (long)pv[i]);
    else if (m->params == SP_DOUBLE_CUTS)
      snprintf(buf, sizeof buf, "%s_%3.2f", m->name, pv[i]);
    else
      snprintf(buf, sizeof buf, "%s", m->name);
    q->names[i] = xstrdup(buf);
  }
  return 0;
}

int score_select(score_selection *s, const char *arg, char *err, size_t errlen) {
  const char *const *nick = NULL;
  if (!strcmp(arg, "official")) nick = nick_official;
  else if (!strcmp(arg, "set")) nick = nick_set;
  else if (!strcmp(arg, "all_trec")) nick = nick_all_trec;
  if (nick) {
    for (; *nick; nick++)
      if (select_one(s, *nick, strlen(*nick), NULL, err, errlen)) return -1;
    return 0;
  }
  const char *dot = strchr(arg, '.');
  if (dot && !dot[1]) {
    set_err(err, errlen, "measure '%s': empty parameter list", arg);
    return -1;
  }
  return select_one(s, arg, dot ? (size_t)(dot - arg) : strlen(arg), dot ? dot + 1 : NULL, err,
                    errlen);
}

static int table_pos(const score_measure *m) {
  for (int i = 0; i < score_num_measures; i++)
    if (score_measures[i] == m) return i;
  return score_num_measures;
}

static int cmp_sel(const void *a, const void *b) {
  return table_pos(((const score_sel *)a)->m) - table_pos(((const score_sel *)b)->m);
}

void score_select_finish(score_selection *s) {
  if (!s->nsel) score_select(s, "official", NULL, 0);
  qsort(s->sel, (size_t)s->nsel, sizeof *s->sel, cmp_sel);
  int col = 0;
  for (int i = 0; i < s->nsel; i++) {
    s->sel[i].col = col;
    col += s->sel[i].nvalues;
  }
  s->ncols = col;
}

void score_selection_free(score_selection *s) {
  for (int i = 0; i < s->nsel; i++) sel_free_one(&s->sel[i]);
  free(s->sel);
  memset(s, 0, sizeof *s);
}

/* ---------------- evaluation ---------------- */

/* The first docid that occurs twice among e[0..n) (hashes h), or NULL. */
static const trec_entry *find_duplicate(const trec_entry *e, const uint64_t *h, size_t n,
                                        uint32_t **tab, size_t *tabcap) {
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  if (cap > *tabcap) {
    free(*tab);
    *tab = xmalloc(xmul(cap, sizeof **tab));
    *tabcap = cap;
  }
  uint32_t *t = *tab;
  memset(t, 0xff, cap * sizeof *t);
  for (size_t i = 0; i < n; i++) {
    size_t k = h[i] & (cap - 1);
    while (t[k] != UINT32_MAX) {
      const trec_entry *o = &e[t[k]];
      if (h[t[k]] == h[i] && o->docid_len == e[i].docid_len &&
          !memcmp(o->docid, e[i].docid, o->docid_len))
        return &e[i];
      k = (k + 1) & (cap - 1);
    }
    t[k] = (uint32_t)i;
  }
  return NULL;
}

int score_evaluate(const trec_set *s, const trec_run *run, const score_selection *sel,
                   const score_opts *o, score_result *res, char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  uint32_t nq = s->nqrels_topics;
  res->ncols = sel->ncols;
  res->nsel = sel->nsel;
  res->runid = run ? run->tag : "";
  res->topic = xmalloc(((size_t)nq + 1) * sizeof *res->topic);
  res->v = xcalloc(((size_t)nq + 1) * (size_t)(sel->ncols ? sel->ncols : 1), sizeof *res->v);
  res->str = xcalloc(((size_t)nq + 1) * (size_t)(sel->nsel ? sel->nsel : 1), sizeof *res->str);

  size_t maxn = 0;
  if (run)
    for (uint32_t t = 0; t < run->ntopics; t++) {
      size_t k = run->topic_begin[t + 1] - run->topic_begin[t];
      if (k > maxn) maxn = k;
    }
  trec_entry *scratch = xmalloc(xmul(maxn + 1, sizeof *scratch));
  int32_t *rel = xmalloc(xmul(maxn + 1, sizeof *rel));
  uint64_t *hash = xmalloc(xmul(maxn + 1, sizeof *hash));
  long *levels = NULL;
  size_t levels_cap = 0;
  uint32_t *dup_tab = NULL;
  size_t dup_cap = 0;
  trec_judged_index jix = {0};
  int rc = 0;

  for (uint32_t qi = 0; qi < nq; qi++) {
    uint32_t t = s->qrels_order[qi];
    const trec_topic *tp = &s->topic[t];
    size_t n = 0;
    const trec_entry *src = NULL;
    if (run && t < run->ntopics) {
      src = run->e + run->topic_begin[t];
      n = run->topic_begin[t + 1] - run->topic_begin[t];
    }
    if (n == 0 && !o->complete) {
      set_err(err, errlen,
              "qrels topic '%s' has no line in run %s (use -c to score it as an empty ranking)",
              tp->qid, run ? run->name : "-");
      rc = -1;
      break;
    }

    score_topic st;
    memset(&st, 0, sizeof st);
    st.qid = tp->qid;
    st.missing = n == 0;

    /* Judged documents per grade, from the qrels alone. */
    long nlev = tp->max_grade + 1;
    if ((size_t)nlev + 1 > levels_cap) {
      levels_cap = (size_t)nlev + 1;
      levels = xrealloc(levels, levels_cap * sizeof *levels);
    }
    memset(levels, 0, ((size_t)nlev + 1) * sizeof *levels);
    for (uint32_t j = 0; j < tp->judged_n; j++) {
      int32_t g = s->judged[tp->judged_begin + j].grade;
      if (g >= 0) levels[g]++;
    }
    st.rel_levels = levels;
    st.num_rel_levels = nlev;
    for (long g = o->relevance_level > 0 ? o->relevance_level : 0; g < nlev; g++)
      st.num_rel += levels[g];

    if (n) {
      memcpy(scratch, src, n * sizeof *scratch);
      trec_sort_ranking(scratch, n);
      if ((long)n > o->max_docs) n = (size_t)o->max_docs;
      for (size_t i = 0; i < n; i++) hash[i] = trec_hash_docid(scratch[i].docid, scratch[i].docid_len);
      const trec_entry *d = find_duplicate(scratch, hash, n, &dup_tab, &dup_cap);
      if (d) {
        char place[48];
        trec_run_entry_place(run, d, place, sizeof place);
        set_err(err, errlen, "%s: %s: docid '%.*s' occurs twice in topic '%s'", run->name, place,
                (int)(d->docid_len > 80 ? 80 : d->docid_len), d->docid, tp->qid);
        rc = -1;
        break;
      }
      long k = 0;
      trec_judged_index_build(&jix, s, t);
      for (size_t i = 0; i < n; i++) {
        int32_t g = trec_judged_index_grade(&jix, scratch[i].docid, scratch[i].docid_len, hash[i]);
        if (o->judged_only && g < 0) continue;
        rel[k++] = g;
        if (g == TREC_NONPOOL) st.num_nonpool++;
        else if (g == TREC_UNJUDGED) st.num_unjudged_in_pool++;
        else if (g >= o->relevance_level) st.num_rel_ret++;
      }
      st.num_ret = k;
    }
    st.rel = rel;

    res->topic[qi] = t;
    double *row = res->v + (size_t)qi * (size_t)sel->ncols;
    for (int m = 0; m < sel->nsel; m++) {
      const score_sel *q = &sel->sel[m];
      if (q->m->calc_str) {
        char buf[1024];
        buf[0] = 0;
        if (!st.missing) q->m->calc_str(&st, o, q->params, q->nparams, buf, sizeof buf);
        res->str[(size_t)qi * (size_t)sel->nsel + (size_t)m] = xstrdup(buf);
      } else if (q->m->calc && (!st.missing || !strcmp(q->m->name, "num_rel"))) {
        q->m->calc(&st, o, q->params, q->nparams, row + q->col);
      }
    }
    res->ntopics = qi + 1;
  }
  free(scratch);
  free(rel);
  free(hash);
  free(levels);
  free(dup_tab);
  trec_judged_index_free(&jix);
  return rc;
}

void score_result_free(score_result *r) {
  if (r->str)
    for (size_t i = 0; i < (size_t)r->ntopics * (size_t)r->nsel; i++) free(r->str[i]);
  free(r->str);
  free(r->topic);
  free(r->v);
  memset(r, 0, sizeof *r);
}

/* ---------------- output ---------------- */

void score_print_topic(FILE *f, const score_selection *sel, const score_result *r, uint32_t row,
                       const char *qid) {
  const double *v = r->v + (size_t)row * (size_t)r->ncols;
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    switch (q->m->agg) {
    case SA_MEAN:
      for (int i = 0; i < q->nvalues; i++)
        fprintf(f, "%-22s\t%s\t%6.4f\n", q->names[i], qid, v[q->col + i]);
      break;
    case SA_SUM:
      for (int i = 0; i < q->nvalues; i++)
        fprintf(f, "%-22s\t%s\t%ld\n", q->names[i], qid, (long)v[q->col + i]);
      break;
    case SA_NONE: {
      const char *sv = r->str[(size_t)row * (size_t)r->nsel + (size_t)m];
      fprintf(f, "%-22s\t%s\t'%s'\n", q->names[0], qid, sv ? sv : "");
      break;
    }
    case SA_GEOMEAN: /* these three are summary only, as in trec_eval */
    case SA_NUM_Q:
    case SA_RUNID:
      break;
    }
  }
}

double score_summary_value(const score_sel *q, const score_result *r, int col,
                           const uint32_t *rows, uint32_t nrows) {
  if (!rows) nrows = r->ntopics;
  double sum = 0;
  for (uint32_t i = 0; i < nrows; i++) {
    uint32_t row = rows ? rows[i] : i;
    double x = r->v[(size_t)row * (size_t)r->ncols + (size_t)col];
    if (q->m->agg == SA_GEOMEAN) x = log(x > MIN_GEO_MEAN ? x : MIN_GEO_MEAN);
    sum += x;
  }
  switch (q->m->agg) {
  case SA_SUM:
    return sum;
  case SA_GEOMEAN:
    return nrows ? exp(sum / nrows) : 0.0;
  case SA_NUM_Q:
    return nrows;
  default:
    return nrows ? sum / nrows : 0.0;
  }
}

void score_print_summary(FILE *f, const score_selection *sel, const score_result *r,
                         const uint32_t *rows, uint32_t nrows, const char *label) {
  if (!rows) nrows = r->ntopics;
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    switch (q->m->agg) {
    case SA_RUNID:
      fprintf(f, "%-22s\t%s\t%s\n", q->names[0], label, r->runid ? r->runid : "");
      break;
    case SA_NUM_Q:
      fprintf(f, "%-22s\t%s\t%ld\n", q->names[0], label, (long)nrows);
      break;
    case SA_SUM:
      for (int i = 0; i < q->nvalues; i++)
        fprintf(f, "%-22s\t%s\t%ld\n", q->names[i], label,
                (long)score_summary_value(q, r, q->col + i, rows, nrows));
      break;
    case SA_MEAN:
    case SA_GEOMEAN:
      for (int i = 0; i < q->nvalues; i++)
        fprintf(f, "%-22s\t%s\t%6.4f\n", q->names[i], label,
                score_summary_value(q, r, q->col + i, rows, nrows));
      break;
    case SA_NONE:
      break;
    }
  }
}
