/* report.c: what `score` adds to trec_eval's output: two runs compared topic
 * by topic (--compare), and summaries per group of topics (--groups). */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/score.h"
#include "eval/trec_lines.h"

void score_print_compare(FILE *f, const score_selection *sel, const score_result *a, const score_result *b,
                         long perms, uint64_t seed) {
  uint32_t n = a->ntopics;
  double *va = xmalloc(((size_t)n + 1) * sizeof *va), *vb = xmalloc(((size_t)n + 1) * sizeof *vb);
  fprintf(f, "measure\tmean_a\tmean_b\tdiff\tp_ttest\tp_rand\n");
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    if (q->m->agg != SA_MEAN && q->m->agg != SA_SUM && q->m->agg != SA_NUM_REL) continue;
    for (int i = 0; i < q->nvalues; i++) {
      size_t col = (size_t)(q->col + i);
      double ma = 0, mb = 0;
      for (uint32_t r = 0; r < n; r++) {
        va[r] = a->v[(size_t)r * (size_t)a->ncols + col];
        vb[r] = b->v[(size_t)r * (size_t)b->ncols + col];
        ma += va[r];
        mb += vb[r];
      }
      ma = n ? ma / n : 0;
      mb = n ? mb / n : 0;
      double pt = score_paired_t(va, vb, (int)n, NULL);
      double pr = score_paired_randomization(va, vb, (int)n, perms, seed);
      fprintf(f, "%s\t%.4f\t%.4f\t%+.4f\t%.4g\t%.4g\n", q->names[i], ma, mb, mb - ma, pt, pr);
    }
  }
  free(va);
  free(vb);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int score_groups_parse(score_groups *g, const char *src, size_t len, const char *name, const trec_set *s,
                       const score_result *res, char *err, size_t errlen) {
  memset(g, 0, sizeof *g);
  uint32_t *topic_group = xmalloc(((size_t)s->ntopics + 1) * sizeof *topic_group);
  for (uint32_t t = 0; t < s->ntopics; t++) topic_group[t] = UINT32_MAX;
  char **names = NULL;
  uint32_t nnames = 0;
  int rc = 0;
  /* Fields are tab-separated: a group name may hold spaces. */
  uint64_t line = 0;
  for (const char *p = src, *end = src + len; p < end && !rc;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
    line++;
    size_t n = (size_t)(e - p);
    if (n && p[n - 1] == '\r') n--;
    const char *le = p + n, *tab = memchr(p, '\t', n);
    if (memchr(p, 0, n)) {
      rc = set_err(err, errlen, "%s: line %llu: NUL byte", name, (unsigned long long)line);
    } else if (le > p && *p != '#') {
      size_t glen = tab ? (size_t)(le - tab) - 1 : 0, tabs = 0;
      for (size_t k = 0; k < glen; k++) tabs += tab[1 + k] == '\t';
      if (!tab || tab == p || !glen || tabs) {
        rc = set_err(err, errlen, "%s: line %llu: expected qid<TAB>group", name, (unsigned long long)line);
        break;
      }
      uint32_t t = trec_topic_find(s, p, (size_t)(tab - p));
      uint32_t k = 0;
      while (k < nnames && (strlen(names[k]) != glen || memcmp(names[k], tab + 1, glen))) k++;
      if (k == nnames) {
        names = xrealloc(names, (nnames + 1) * sizeof *names);
        names[nnames] = xmalloc(glen + 1);
        memcpy(names[nnames], tab + 1, glen);
        names[nnames++][glen] = 0;
      }
      if (t != UINT32_MAX && topic_group[t] != UINT32_MAX && topic_group[t] != k)
        rc = set_err(err, errlen, "%s: line %llu: topic '%s' is in two groups", name, (unsigned long long)line,
                     s->topic[t].qid);
      else if (t != UINT32_MAX)
        topic_group[t] = k;
    }
    p = nl ? nl + 1 : end;
  }
  for (uint32_t i = 0; i < res->ntopics && !rc; i++)
    if (topic_group[res->topic[i]] == UINT32_MAX)
      rc = set_err(err, errlen, "%s: topic '%s' has no group", name, s->topic[res->topic[i]].qid);
  /* Groups in strcmp order of their names. */
  g->name = xmalloc((nnames + 1) * sizeof *g->name);
  if (nnames) memcpy(g->name, names, nnames * sizeof *names);
  qsort(g->name, nnames, sizeof *g->name, cmp_str);
  g->n = nnames;
  g->of_row = xmalloc(((size_t)res->ntopics + 1) * sizeof *g->of_row);
  for (uint32_t i = 0; i < res->ntopics && !rc; i++) {
    const char *gn = names[topic_group[res->topic[i]]];
    uint32_t k = 0;
    while (g->name[k] != gn) k++;
    g->of_row[i] = k;
  }
  free(names);
  free(topic_group);
  if (rc) score_groups_free(g);
  return rc;
}

int score_groups_load(score_groups *g, const char *path, const trec_set *s, const score_result *res, char *err,
                      size_t errlen) {
  trec_buf b;
  memset(g, 0, sizeof *g);
  if (trec_read_file(path, &b, err, errlen)) return -1;
  int rc = score_groups_parse(g, b.p, b.len, path, s, res, err, errlen);
  trec_buf_free(&b);
  return rc;
}

void score_print_groups(FILE *f, const score_selection *sel, const score_result *res, const score_groups *g) {
  uint32_t *rows = xmalloc(((size_t)res->ntopics + 1) * sizeof *rows);
  double *macro = xcalloc((size_t)sel->ncols + 1, sizeof *macro);
  for (uint32_t k = 0; k < g->n; k++) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < res->ntopics; i++)
      if (g->of_row[i] == k) rows[n++] = i;
    char *label = xmalloc(strlen(g->name[k]) + 8);
    sprintf(label, "group=%s", g->name[k]);
    score_print_summary(f, sel, res, rows, n, label);
    free(label);
    for (int m = 0; m < sel->nsel; m++) {
      const score_sel *q = &sel->sel[m];
      for (int i = 0; i < q->nvalues && q->m->agg != SA_NONE; i++)
        macro[q->col + i] += score_summary_value(q, res, q->col + i, rows, n);
    }
  }
  for (int m = 0; m < sel->nsel; m++) {
    const score_sel *q = &sel->sel[m];
    if (q->m->agg != SA_MEAN && q->m->agg != SA_GEOMEAN) continue;
    for (int i = 0; i < q->nvalues; i++)
      fprintf(f, "%s%-22s\t%s\t%6.4f\n", res->zscores ? "Z" : "", q->names[i], "macro",
              g->n ? macro[q->col + i] / g->n : 0.0);
  }
  free(rows);
  free(macro);
}

void score_groups_free(score_groups *g) {
  for (uint32_t k = 0; k < g->n; k++) free(g->name[k]);
  free(g->name);
  free(g->of_row);
  memset(g, 0, sizeof *g);
}
