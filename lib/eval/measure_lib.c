/* measure_lib.c: the computations several measures share (see measure.h).
 * Each repeats trec_eval's arithmetic step for step (order of additions,
 * integer conversions), so that values agree to the last printed digit and
 * NaN appears where trec_eval's divides 0 by 0. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/measure.h"

static inline int counts(const score_rr *r, long level, int unj, long i) {
  return unj ? r->rel[i] == TREC_NONPOOL || r->rel[i] == TREC_UNJUDGED : r->rel[i] >= level;
}

void score_count_at(const score_rr *r, long level, int unj, const long *cut, int n, double *out) {
  long cnt = 0, i = 0;
  for (int c = 0; c < n; c++) {
    long k = cut[c] < r->num_ret ? cut[c] : r->num_ret;
    for (; i < k; i++) cnt += counts(r, level, unj, i);
    out[c] = (double)cnt;
  }
}

double score_ap_sum(const score_rr *r, long level, long *found) {
  long rel_so_far = 0;
  double sum = 0.0;
  for (long i = 0; i < r->num_ret; i++)
    if (r->rel[i] >= level) sum += (double)++rel_so_far / (double)(i + 1);
  if (found) *found = rel_so_far;
  return sum;
}

double score_ap(const score_rr *r, long level) {
  long found;
  double sum = score_ap_sum(r, level, &found);
  return found ? sum / (double)r->num_rel : 0.0;
}

void score_ap_at(const score_rr *r, long level, const long *cut, int n, double *out) {
  long rel_so_far = 0, i = 0;
  double sum = 0.0;
  for (int c = 0; c < n; c++) {
    long k = cut[c] < r->num_ret ? cut[c] : r->num_ret;
    for (; i < k; i++)
      if (r->rel[i] >= level) sum += (double)++rel_so_far / (double)(i + 1);
    out[c] = sum;
  }
}

double score_gm_log(double v) { return log(v > SCORE_MIN_GEO_MEAN ? v : SCORE_MIN_GEO_MEAN); }

/* Cutoffs as document counts, in a caller's small buffer or allocated. */
static long *doc_cuts(long *small, int n) { return n <= 64 ? small : xmalloc(xmul((size_t)n, sizeof(long))); }

void score_iprec(const score_rr *r, long level, const double *cut, int n, double *out) {
  long small[64], *cuts = doc_cuts(small, n);
  for (int i = 0; i < n; i++) cuts[i] = lround(cut[i] * (double)r->num_rel);
  int cc = n - 1;
  while (cc >= 0 && cuts[cc] > r->num_rel_ret) cc--;
  /* Interpolated precision at rank X: the best precision at ranks >= X,
     walking the ranking backwards. */
  double precis = (double)r->num_rel_ret / (double)r->num_ret, int_precis = precis;
  long rel_so_far = r->num_rel_ret;
  for (long i = r->num_ret; i > 0 && rel_so_far > 0; i--) {
    precis = (double)rel_so_far / (double)i;
    if (int_precis < precis) int_precis = precis;
    if (r->rel[i - 1] >= level) {
      for (; cc >= 0 && rel_so_far == cuts[cc]; cc--) out[cc] = int_precis;
      rel_so_far--;
    }
  }
  for (; cc >= 0; cc--) out[cc] = int_precis;
  if (cuts != small) free(cuts);
}

void score_rprec_mult(const score_rr *r, long level, const double *cut, int n, double *out) {
  long small[64], *cuts = doc_cuts(small, n);
  for (int i = 0; i < n; i++) cuts[i] = (long)(cut[i] * (double)r->num_rel + 0.9);
  int cc = n - 1;
  for (; cc >= 0 && cuts[cc] > r->num_ret; cc--) out[cc] = (double)r->num_rel_ret / (double)cuts[cc];
  long rel_so_far = r->num_rel_ret;
  for (long i = r->num_ret; i > 0 && rel_so_far > 0; i--) {
    double precis = (double)rel_so_far / (double)i;
    for (; cc >= 0 && i == cuts[cc]; cc--) out[cc] = precis;
    if (r->rel[i - 1] >= level) rel_so_far--;
  }
  if (cuts != small) free(cuts);
}

double score_bpref(const score_rr *r, long level) {
  /* Judged non-relevant documents: grades below the level (only grades that
     occur: above them trec_eval reads past its array, where no relevant
     document exists to use the count). */
  long num_nonrel = 0;
  for (long j = 0; j < level && j < r->num_rel_levels; j++) num_nonrel += r->rel_levels[j];
  long nonrel_so_far = 0;
  double bpref = 0.0;
  for (long j = 0; j < r->num_ret; j++) {
    int32_t g = r->rel[j];
    if (g == TREC_NONPOOL || g == TREC_UNJUDGED) continue;
    if (g >= 0 && g < level) {
      nonrel_so_far++;
    } else if (nonrel_so_far > 0) {
      long a = nonrel_so_far < r->num_rel ? nonrel_so_far : r->num_rel;
      long b = num_nonrel < r->num_rel ? num_nonrel : r->num_rel;
      bpref += 1.0 - (double)a / (double)b;
    } else {
      bpref += 1.0;
    }
  }
  if (r->num_rel) bpref /= (double)r->num_rel;
  return bpref;
}

void score_avg_jgs(const score_topic *t, const score_sel *q, double *out,
                   void (*one)(const score_rr *r, const score_topic *t, const score_sel *q, double *out)) {
  double small[64], *v = q->nvalues <= 64 ? small : xmalloc(xmul((size_t)q->nvalues, sizeof *v));
  for (long jg = 0; jg < t->num_jgs; jg++) {
    memset(v, 0, (size_t)q->nvalues * sizeof *v);
    one(&t->jgs[jg], t, q, v);
    for (int i = 0; i < q->nvalues; i++) out[i] += v[i];
  }
  if (t->num_jgs > 1)
    for (int i = 0; i < q->nvalues; i++) out[i] /= (double)t->num_jgs;
  if (v != small) free(v);
}

/* ---------------- gains ---------------- */

static int valid_int(const char *s) {
  if (*s == '-' || *s == '+') s++;
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

/* trec_eval compares gains as (int)(a - b): 4.5 and 4 are "equal". */
static int cmp_gain(const void *a, const void *b, void *ctx) {
  return (int)(((const score_gain_level *)a)->gain - ((const score_gain_level *)b)->gain);
}

/* Lookup table: the first level in gain order wins, as trec_eval's scan. */
static void gains_table(score_gains *g) {
  g->lo = g->n ? g->lv[0].rel_level : 0;
  g->hi = g->n ? g->lv[0].rel_level : -1;
  for (long i = 1; i < g->n; i++) {
    if (g->lv[i].rel_level < g->lo) g->lo = g->lv[i].rel_level;
    if (g->lv[i].rel_level > g->hi) g->hi = g->lv[i].rel_level;
  }
  unsigned long span = (unsigned long)g->hi - (unsigned long)g->lo + 1; /* 0: all of long's range */
  if (g->table && g->table != g->tbuf) free(g->table);
  g->table = NULL;
  /* sparse grades given (a table far larger than the levels): score_gain_of scans */
  if (g->n && (span == 0 || (span > 1 << 16 && span / 4 > (unsigned long)g->n))) return;
  g->table = span <= 8 ? g->tbuf : xmalloc(xmul(span, sizeof *g->table));
  memset(g->table, 0, span * sizeof *g->table);
  for (long i = g->n - 1; i >= 0; i--) g->table[g->lv[i].rel_level - g->lo] = g->lv[i].gain;
}

void score_gains_init(score_gains *g, const score_rr *r, const score_sel *q) {
  long cap = r->num_rel_levels + (q ? q->npairs : 0);
  g->lv = cap <= 8 ? g->buf : xmalloc(xmul((size_t)cap, sizeof *g->lv));
  g->n = 0;
  g->table = NULL;
  for (int i = 0; q && i < q->npairs; i++)
    if (valid_int(q->pairs[i].name))
      g->lv[g->n++] = (score_gain_level){atol(q->pairs[i].name), 0, q->pairs[i].value};
  long given = g->n;
  /* Only a given level can match grade i (the levels added below are the
   * grades before i): the search is over the given ones, so grades up to
   * TREC_MAX_GRADE cost linear time, not quadratic. */
  for (long i = 0; i < r->num_rel_levels; i++) {
    long j = 0;
    while (j < given && g->lv[j].rel_level != i) j++;
    if (j < given) g->lv[j].num_at_level = r->rel_levels[i];
    else g->lv[g->n++] = (score_gain_level){i, r->rel_levels[i], (double)i};
  }
  if (given) trec_msort(g->lv, (size_t)g->n, sizeof *g->lv, cmp_gain, NULL);
  gains_table(g);
}

double score_gain_scan(const score_gains *g, long rel) {
  for (long i = 0; i < g->n; i++)
    if (g->lv[i].rel_level == rel) return g->lv[i].gain;
  return 0.0;
}

void score_gains_unit(score_gains *g) {
  double min = 0.0, max = 0.0; /* trec_eval leaves these uninitialised (see rbp.c) */
  for (long i = 0; i < g->n; i++) {
    if (g->lv[i].gain < min) min = g->lv[i].gain;
    if (g->lv[i].gain > max) max = g->lv[i].gain;
  }
  if (min >= 0 && max <= 1) return;
  for (long i = 0; i < g->n; i++) g->lv[i].gain = (g->lv[i].gain - min) / (max - min);
  gains_table(g);
}

void score_gains_free(score_gains *g) {
  if (g->lv != g->buf) free(g->lv);
  if (g->table != g->tbuf) free(g->table);
}

void score_ideal_init(score_ideal *it, const score_gains *g) {
  it->g = g;
  it->cur = g->n - 1;
  it->used = 0;
  it->gain = it->cur >= 0 ? g->lv[it->cur].gain : 0.0;
}

void score_gains_ideal(score_gains *g, score_ideal *it, const score_rr *r, const score_sel *q) {
  score_gains_init(g, r, q);
  score_ideal_init(it, g);
}

void score_ideal_next(score_ideal *it) {
  it->used++;
  while (it->cur >= 0 && it->used > it->g->lv[it->cur].num_at_level) {
    it->used = 1;
    it->cur--;
    it->gain = it->cur >= 0 ? it->g->lv[it->cur].gain : 0.0;
  }
}

void score_dcg(const score_rr *r, const score_sel *q, double *dcg_out, double *ideal_out) {
  double dcg = 0.0, ideal = 0.0;
  score_gains gains, *g = &gains;
  score_ideal id;
  score_gains_ideal(g, &id, r, q);
  long i = 0;
  for (; i < r->num_ret || id.gain > 0.0; i++) {
    if (i < r->num_ret) {
      double gain = score_gain_of(g, r->rel[i]);
      if (gain != 0) dcg += score_discount(gain, i);
    }
    if (id.gain > 0.0) {
      score_ideal_next(&id);
      if (id.gain > 0.0) ideal += score_discount(id.gain, i);
    }
  }
  *dcg_out = dcg;
  *ideal_out = ideal;
  score_gains_free(g);
}
