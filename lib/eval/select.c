/* select.c: -m arguments, as trec_eval reads them (see score.h).
 *
 * trec_eval marks measures (by name or nickname) and keeps every NAME.PARAMS
 * argument in order; when a marked measure is initialised, the first
 * argument with its name gives its parameters. Cutoffs are read with atol
 * (integer cutoffs) or atof and sorted; name=value pairs are checked for
 * shape first. Printed names: NAME_k for integer cutoffs, NAME_%3.2f for
 * fractional ones, NAME_PARAMS (the text as given) for the others when
 * parameters are given.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/score.h"

int score_select(score_selection *s, const char *arg, char *err, size_t errlen) {
  if (!s->marked) s->marked = xcalloc((size_t)score_num_measures, 1);
  s->any = 1;
  const char *dot = strchr(arg, '.');
  size_t nlen = dot ? (size_t)(dot - arg) : strlen(arg);
  char *name = xmalloc(nlen + 1);
  memcpy(name, arg, nlen);
  name[nlen] = 0;
  if (dot) {
    if (!dot[1]) {
      set_err(err, errlen, "measure '%s': empty parameter list after '.'", name);
      free(name);
      return -1;
    }
    s->arg_name = xrealloc(s->arg_name, xmul((size_t)s->nargs + 1, sizeof *s->arg_name));
    s->arg_params = xrealloc(s->arg_params, xmul((size_t)s->nargs + 1, sizeof *s->arg_params));
    s->arg_name[s->nargs] = xstrdup(name);
    s->arg_params[s->nargs++] = xstrdup(dot + 1);
  }
  for (const score_nickname *n = score_nicknames; n->name; n++)
    if (!strcmp(n->name, name)) {
      for (const char *const *m = n->measures; *m; m++) s->marked[score_measure_index(*m)] = 1;
      free(name);
      return 0;
    }
  int i = score_measure_index(name);
  if (i < 0) {
    set_err(err, errlen, "unknown measure '%s' (see --help for the list)", name);
    free(name);
    return -1;
  }
  s->marked[i] = 1;
  free(name);
  return 0;
}

/* ---- reading parameters ---- */

typedef struct {
  const score_measure *m;
  int compat;
  char *err;
  size_t errlen;
} reader;

static int bad(reader *r, const char *text, const char *what) {
  return set_err(r->err, r->errlen, "measure '%s': bad parameter '%s' (%s; --compat reads it as trec_eval does)",
                 r->m->name, text, what);
}

/* An integer cutoff: atol's reading. Strictly: digits, optionally a
   fraction (dropped, as atol drops it: ndcg_cut.23.4 is ndcg_cut_23). */
static int read_long(reader *r, const char *tok, long *out) {
  char *end;
  *out = strtol(tok, &end, 10);
  if (r->compat) return 0;
  const char *p = tok + (*tok == '+' || *tok == '-');
  if ((unsigned)(*p - '0') >= 10) return bad(r, tok, "an integer cutoff");
  if (*end == '.') end += strspn(end + 1, "0123456789") + 1;
  return *end ? bad(r, tok, "an integer cutoff") : 0;
}

static int read_double(reader *r, const char *tok, double *out) {
  char *end;
  *out = strtod(tok, &end);
  if (r->compat) return 0;
  return end == tok || *end || !isfinite(*out) ? bad(r, tok, "a finite number") : 0;
}

/* Split a copy of text at commas: the number of tokens. */
static int split(char *text, char ***tok) {
  int n = 1;
  for (char *p = text; *p; p++) n += *p == ',';
  *tok = xmalloc(xmul((size_t)n, sizeof **tok));
  n = 0;
  for (char *p = text, *start = text;; p++)
    if (*p == ',' || !*p) {
      int last = !*p;
      *p = 0;
      (*tok)[n++] = start;
      start = p + 1;
      if (last) break;
    }
  return n;
}

/* trec_eval's comparators: longs as (int)(a - b), doubles by < and >. */
static int cmp_long(const void *a, const void *b, void *ctx) {
  return (int)(*(const long *)a - *(const long *)b);
}
static int cmp_double(const void *a, const void *b, void *ctx) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int read_cuts(reader *r, score_sel *q, char **tok, int n) {
  int is_long = r->m->params == SP_LONG_CUTS;
  if (is_long) q->lcut = xmalloc(xmul((size_t)n, sizeof *q->lcut));
  else q->dv = xmalloc(xmul((size_t)n, sizeof *q->dv));
  for (int i = 0; i < n; i++)
    if (is_long ? read_long(r, tok[i], &q->lcut[i]) : read_double(r, tok[i], &q->dv[i])) return -1;
  if (is_long) trec_msort(q->lcut, (size_t)n, sizeof *q->lcut, cmp_long, NULL);
  else trec_msort(q->dv, (size_t)n, sizeof *q->dv, cmp_double, NULL);
  if (is_long && q->lcut[0] <= 0)
    return set_err(r->err, r->errlen, "measure '%s': cutoffs must be positive", r->m->name);
  for (int i = 1; i < n; i++)
    if (is_long ? q->lcut[i] == q->lcut[i - 1] : q->dv[i] == q->dv[i - 1])
      return set_err(r->err, r->errlen, "measure '%s': a cutoff is given twice", r->m->name);
  q->ndv = is_long ? 0 : n;
  q->nvalues = n;
  return 0;
}

/* name=value pairs; trec_eval's shape check: '=' and ',' alternate, ending
   with an '='-part. */
static int read_pairs(reader *r, score_sel *q, char *text, const char *given) {
  char last = ',';
  for (const char *p = text; *p; p++)
    if (*p == ',' || *p == '=') {
      if (*p == last) {
        last = ',';
        break;
      }
      last = *p;
    }
  if (last != '=')
    return set_err(r->err, r->errlen, "measure '%s': malformed pair parameters in '%s' (NAME=VALUE,...)",
                   r->m->name, given);
  char **tok;
  int n = split(text, &tok);
  q->pairs = xcalloc((size_t)n, sizeof *q->pairs);
  q->npairs = n;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    char *eq = strchr(tok[i], '=');
    *eq = 0;
    q->pairs[i].name = xstrdup(tok[i]);
    rc = read_double(r, eq + 1, &q->pairs[i].value);
  }
  free(tok);
  return rc;
}

/* The printed name NAME_SUFFIX, cut as trec_eval's buffer cuts it. */
static char *value_name(const char *name, size_t room, const char *fmt, ...) {
  char *s = xmalloc(strlen(name) + room);
  int k = snprintf(s, strlen(name) + room, "%s_", name);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s + k, strlen(name) + room - (size_t)k, fmt, ap);
  va_end(ap);
  return s;
}

static int init_sel(reader *r, score_sel *q, const char *params) {
  const score_measure *m = r->m;
  q->m = m;
  q->nvalues = 1;
  if (params && m->params == SP_NONE && !r->compat)
    return set_err(r->err, r->errlen, "measure '%s' takes no parameters (trec_eval ignores them; --compat too)",
                   m->name);
  if (params && m->params != SP_NONE) q->printable = xstrdup(params);
  char *text = params ? xstrdup(params) : NULL, **tok = NULL;
  int rc = 0, n = text && m->params != SP_PAIRS ? split(text, &tok) : 0;
  switch (m->params) {
  case SP_NONE:
    break;
  case SP_LONG_CUTS:
  case SP_DOUBLE_CUTS:
    if (text) {
      rc = read_cuts(r, q, tok, n);
      break;
    }
    q->nvalues = m->ndefault; /* the defaults: ascending, distinct */
    if (m->params == SP_LONG_CUTS) q->lcut = xmalloc(xmul((size_t)m->ndefault, sizeof *q->lcut));
    else q->dv = xmalloc(xmul((size_t)(q->ndv = m->ndefault), sizeof *q->dv));
    for (int i = 0; i < m->ndefault; i++)
      if (q->lcut) q->lcut[i] = (long)m->defaults[i];
      else q->dv[i] = m->defaults[i];
    break;
  case SP_DOUBLES:
    q->ndv = text ? n : m->ndefault;
    q->dv = xcalloc((size_t)q->ndv, sizeof *q->dv);
    for (int i = 0; i < q->ndv && !rc; i++)
      rc = text ? read_double(r, tok[i], &q->dv[i]) : (q->dv[i] = m->defaults[i], 0);
    break;
  case SP_PAIRS:
    if (text) rc = read_pairs(r, q, text, params);
    break;
  }
  free(tok);
  free(text);
  if (!rc && m->check) rc = m->check(q, r->err, r->errlen);
  if (rc) return -1;
  q->names = xcalloc((size_t)q->nvalues, sizeof *q->names);
  for (int i = 0; i < q->nvalues; i++)
    q->names[i] = m->params == SP_LONG_CUTS     ? value_name(m->name, 22, "%ld", q->lcut[i])
                  : m->params == SP_DOUBLE_CUTS ? value_name(m->name, 10, "%3.2f", q->dv[i])
                  : q->printable                ? value_name(m->name, strlen(q->printable) + 2, "%s", q->printable)
                                                : xstrdup(m->name);
  return 0;
}

static void sel_free(score_sel *q) {
  for (int i = 0; q->names && i < q->nvalues; i++) free(q->names[i]);
  for (int i = 0; i < q->npairs; i++) free(q->pairs[i].name);
  void *arrays[] = {q->names, q->lcut, q->dv, q->pairs, q->printable};
  for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) free(arrays[i]);
  memset(q, 0, sizeof *q);
}

int score_select_finish(score_selection *s, int compat, char *err, size_t errlen) {
  if (!s->any && score_select(s, "official", err, errlen)) return -1;
  s->sel = xcalloc((size_t)score_num_measures, sizeof *s->sel);
  s->nsel = 0;
  s->ncols = 0;
  for (int i = 0; i < score_num_measures; i++) {
    if (!s->marked[i]) continue;
    reader r = {score_measures[i], compat, err, errlen};
    const char *params = NULL;
    for (int a = 0; a < s->nargs && !params; a++)
      if (!strcmp(s->arg_name[a], score_measures[i]->name)) params = s->arg_params[a];
    score_sel *q = &s->sel[s->nsel++];
    if (init_sel(&r, q, params)) return -1;
    q->col = s->ncols;
    s->ncols += q->nvalues;
  }
  return 0;
}

void score_selection_free(score_selection *s) {
  for (int i = 0; i < s->nsel; i++) sel_free(&s->sel[i]);
  for (int a = 0; a < s->nargs; a++) {
    free(s->arg_name[a]);
    free(s->arg_params[a]);
  }
  free(s->arg_name);
  free(s->arg_params);
  free(s->sel);
  free(s->marked);
  memset(s, 0, sizeof *s);
}
