/* prefs.c: preferences counted over a ranking, and the ratios the prefs_*
 * measures take of them (see prefs.h). The steps, sorts and counts are
 * trec_eval's (form_prefs_counts.c), so that ties and degenerate inputs
 * come out as they do there; the transitive closure is computed directly
 * (Warshall) where trec_eval squares the matrix until it stops changing:
 * the same closure. */
#include "eval/prefs.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/trec_lines.h"

typedef struct {
  const char *docid;
  uint32_t len;
  long rank;
} dres;

typedef struct {
  const char *jg, *jsg, *docid;
  uint32_t jg_len, jsg_len, docid_len;
  double rel;
  long rank;
} par;

struct score_prefs_work {
  trec_entry *res;
  dres *dr;
  par *p;
  score_pref_jg *jgs;
  score_ec *ecs;
  long *ranks;
  uint16_t *counts;
  unsigned char *pa;
  double *rel;
  size_t cap_res, cap_dr, cap_p, cap_jgs, cap_ecs, cap_ranks, cap_counts, cap_pa, cap_rel;
};

score_prefs_work *score_prefs_work_new(void) { return xcalloc(1, sizeof(score_prefs_work)); }

void score_prefs_work_free(score_prefs_work *w) {
  if (!w) return;
  void *arrays[] = {w->res, w->dr, w->p, w->jgs, w->ecs, w->ranks, w->counts, w->pa, w->rel, w};
  for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) free(arrays[i]);
}

static int same(const char *a, uint32_t al, const char *b, uint32_t bl) { return !trec_docid_cmp(a, al, b, bl); }

static int cmp_dres_docid(const void *a, const void *b, void *ctx) {
  const dres *x = a, *y = b;
  return trec_docid_cmp(x->docid, x->len, y->docid, y->len);
}

static int cmp_dres_rank(const void *a, const void *b, void *ctx) {
  return (int)(((const dres *)a)->rank - ((const dres *)b)->rank);
}

/* trec_eval's order of preference lines: jg, jsg, rel_level descending, rank. */
static int cmp_par(const void *a, const void *b, void *ctx) {
  const par *x = a, *y = b;
  int c = trec_docid_cmp(x->jg, x->jg_len, y->jg, y->jg_len);
  if (!c) c = trec_docid_cmp(x->jsg, x->jsg_len, y->jsg, y->jsg_len);
  if (c) return c;
  if (x->rel > y->rel) return -1;
  if (x->rel < y->rel) return 1;
  return (int)(x->rank - y->rank);
}

/* The next run of lines with one docid from p[*rp]: all get rank r. */
static void rank_docid(par *p, size_t np, size_t *rp, long r) {
  size_t st = (*rp)++;
  p[st].rank = r;
  while (*rp < np && same(p[*rp].docid, p[*rp].docid_len, p[st].docid, p[st].docid_len)) p[(*rp)++].rank = r;
}

/* Internal ranks (prefs.h): *num_judged_ret, and the return: num_judged. */
static long assign_ranks(score_prefs_work *w, size_t nres, size_t np, long *num_judged_ret) {
  dres *dr = w->dr;
  par *p = w->p;
  size_t rp = 0, i;
  for (i = 0; i < nres && rp < np; i++) {
    while (rp < np && trec_docid_cmp(p[rp].docid, p[rp].docid_len, dr[i].docid, dr[i].len) < 0) rp++;
    if (rp < np && same(p[rp].docid, p[rp].docid_len, dr[i].docid, dr[i].len)) {
      while (rp < np && same(p[rp].docid, p[rp].docid_len, dr[i].docid, dr[i].len)) rp++;
    } else {
      dr[i].rank = -1; /* retrieved, not judged */
    }
  }
  nres = i;
  trec_msort(dr, nres, sizeof *dr, cmp_dres_rank, NULL);
  long njr = 0;
  for (i = 0; i < nres; i++)
    if (dr[i].rank > -1) {
      dr[njr] = dr[i];
      dr[njr].rank = njr;
      njr++;
    }
  trec_msort(dr, (size_t)njr, sizeof *dr, cmp_dres_docid, NULL);
  long next = njr;
  rp = 0;
  for (i = 0; i < (size_t)njr; i++) {
    while (rp < np && trec_docid_cmp(p[rp].docid, p[rp].docid_len, dr[i].docid, dr[i].len) < 0)
      rank_docid(p, np, &rp, next++);
    rank_docid(p, np, &rp, dr[i].rank);
  }
  while (rp < np) rank_docid(p, np, &rp, next++);
  *num_judged_ret = njr;
  return next;
}

static int ec_counts(score_pref_jg *jg, score_prefs *out, char *err, size_t errlen) {
  long njr = out->num_judged_ret, nj = out->num_judged;
  for (long e1 = 0; e1 < jg->num_ecs; e1++) {
    const score_ec *a = &jg->ecs[e1];
    long ret = 0;
    while (ret < a->num_in_ec && a->docid_ranks[ret] < njr) ret++;
    if (a->rel_level > 0.0) {
      jg->num_rel_ret += ret;
      jg->num_rel += a->num_in_ec;
    } else {
      jg->num_nonrel_ret += ret;
      jg->num_nonrel += a->num_in_ec;
    }
    for (long e2 = e1 + 1; e2 < jg->num_ecs; e2++) {
      const score_ec *b = &jg->ecs[e2];
      for (long i = 0; i < a->num_in_ec; i++)
        for (long j = 0; j < b->num_in_ec; j++) {
          long r1 = a->docid_ranks[i], r2 = b->docid_ranks[j];
          out->counts[r1 * nj + r2]++;
          if (r1 == r2)
            return set_err(err, errlen, "a document has two rel_levels in one judgement subgroup (internal rank %ld)", r1);
          if (r1 < r2) {
            if (r2 < njr) jg->ful_ret++;
            else if (r1 < njr) jg->ful_imp++;
            else jg->poss_notoccur++;
          } else {
            if (r1 < njr) jg->poss_ret++;
            else if (r2 < njr) jg->poss_imp++;
            else jg->poss_notoccur++;
          }
        }
    }
  }
  jg->poss_ret += jg->ful_ret;
  jg->poss_imp += jg->ful_imp;
  return 0;
}

static void pa_counts(score_pref_jg *jg, score_prefs *out) {
  long njr = out->num_judged_ret, nj = out->num_judged;
  for (long i = 0; i < nj; i++) {
    long *rel = jg->rel_array[i] > 0.0 ? &jg->num_rel : jg->rel_array[i] == 0.0 ? &jg->num_nonrel : NULL;
    if (rel) ++*rel;
    if (rel && i < njr) ++*(rel == &jg->num_rel ? &jg->num_rel_ret : &jg->num_nonrel_ret);
  }
  for (long i = 0; i < nj; i++)
    for (long j = 0; j < nj; j++) {
      if (!jg->pa[i * nj + j]) continue;
      out->counts[i * nj + j]++;
      if (i < njr && j < njr) ++*(j < i ? &jg->poss_ret : &jg->ful_ret);
      else if (i < njr) jg->ful_imp++;
      else if (j < njr) jg->poss_imp++;
      else jg->poss_notoccur++;
    }
  jg->poss_ret += jg->ful_ret;
  jg->poss_imp += jg->ful_imp;
}

/* The end of the jg starting at line b. */
static size_t jg_end(const par *p, size_t np, size_t b) {
  size_t e = b + 1;
  while (e < np && same(p[e].jg, p[e].jg_len, p[b].jg, p[b].jg_len)) e++;
  return e;
}

static long subgroups(const par *p, size_t b, size_t e) {
  long n = 1;
  for (size_t k = b + 1; k < e; k++) n += !same(p[k].jsg, p[k].jsg_len, p[k - 1].jsg, p[k - 1].jsg_len);
  return n;
}

/* Preferences of a jg with several subgroups: matrix, closure, counts. */
static int form_pa(score_pref_jg *jg, const par *p, size_t n, score_prefs *out, char *err, size_t errlen) {
  long nj = out->num_judged;
  unsigned char *a = jg->pa;
  memset(a, 0, (size_t)nj * (size_t)nj);
  for (long i = 0; i < nj; i++) jg->rel_array[i] = -1.0;
  for (size_t i = 0; i < n; i++) {
    double had = jg->rel_array[p[i].rank];
    if ((had > 0.0 && p[i].rel == 0.0) || (had == 0.0 && p[i].rel > 0.0))
      return set_err(err, errlen, "doc '%.*s' has both 0 and non-0 rel_level in judgement group '%.*s'",
                     (int)p[i].docid_len, p[i].docid, (int)p[i].jg_len, p[i].jg);
    jg->rel_array[p[i].rank] = p[i].rel;
    size_t j = i + 1;
    while (j < n && same(p[i].jsg, p[i].jsg_len, p[j].jsg, p[j].jsg_len) && p[i].rel == p[j].rel) j++;
    for (; j < n && same(p[i].jsg, p[i].jsg_len, p[j].jsg, p[j].jsg_len); j++) a[p[i].rank * nj + p[j].rank] = 1;
  }
  for (long k = 0; k < nj; k++)
    for (long i = 0; i < nj; i++)
      if (i != k && a[i * nj + k])
        for (long j = 0; j < nj; j++) a[i * nj + j] |= a[k * nj + j];
  for (long i = 0; i < nj; i++)
    for (long j = 0; j < nj; j++)
      if (i != j && a[i * nj + j] && a[j * nj + i])
        return set_err(err, errlen, "judgement group '%.*s' prefers documents of internal ranks %ld and %ld "
                       "each to the other (trec_eval aborts)", (int)p[0].jg_len, p[0].jg, i, j);
  for (long i = 0; i < nj; i++) a[i * nj + i] = 0;
  pa_counts(jg, out);
  return 0;
}

/* Preferences of a jg with one subgroup: equivalence classes by rel_level. */
static int form_ec(score_prefs_work *w, score_pref_jg *jg, const par *p, size_t n, long nrl, long *rank_at,
                   score_prefs *out, char *err, size_t errlen) {
  score_ec *ec = jg->ecs;
  long *ranks = w->ranks + *rank_at;
  *ec = (score_ec){p[0].rel, 0, ranks};
  for (size_t i = 0; i < n; i++) {
    if (p[i].rel != ec->rel_level) { /* a new class (every line, for NaN) */
      ranks += ec->num_in_ec;
      ec++;
      *ec = (score_ec){p[i].rel, 0, ranks};
    }
    ec->docid_ranks[ec->num_in_ec++] = p[i].rank;
  }
  *rank_at += (long)n;
  jg->num_ecs = nrl;
  return ec_counts(jg, out, err, errlen);
}

int score_prefs_form(score_prefs_work *w, const trec_set *s, uint32_t topic, const trec_entry *e,
                     size_t n, long max_docs, score_prefs *out, char *err, size_t errlen) {
  const trec_topic *tp = &s->topic[topic];
  w->res = trec_grow(w->res, &w->cap_res, n, sizeof *w->res);
  memcpy(w->res, e, n * sizeof *e);
  trec_sort_ranking(w->res, n, TREC_TIES_ASC);
  size_t nres = (long)n > max_docs ? (size_t)max_docs : n;
  w->dr = trec_grow(w->dr, &w->cap_dr, nres, sizeof *w->dr);
  for (size_t i = 0; i < nres; i++) w->dr[i] = (dres){w->res[i].docid, w->res[i].docid_len, (long)i + 1};
  trec_msort(w->dr, nres, sizeof *w->dr, cmp_dres_docid, NULL);
  for (size_t i = 1; i < nres; i++)
    if (same(w->dr[i].docid, w->dr[i].len, w->dr[i - 1].docid, w->dr[i - 1].len))
      return set_err(err, errlen, "docid '%.*s' occurs twice in topic '%s'", (int)(w->dr[i].len > 80 ? 80 : w->dr[i].len),
                     w->dr[i].docid, tp->qid);
  size_t np = tp->pref_n;
  w->p = trec_grow(w->p, &w->cap_p, np, sizeof *w->p);
  for (size_t i = 0; i < np; i++) {
    const trec_pref *q = &s->pref[tp->pref_begin + i];
    w->p[i] = (par){q->jg, q->jsg, q->docid, q->jg_len, q->jsg_len, q->docid_len, q->rel, 0};
  }
  memset(out, 0, sizeof *out);
  out->num_judged = assign_ranks(w, nres, np, &out->num_judged_ret);
  trec_msort(w->p, np, sizeof *w->p, cmp_par, NULL);
  long nj = out->num_judged;
  w->counts = trec_grow(w->counts, &w->cap_counts, xmul((size_t)nj, (size_t)nj), sizeof *w->counts);
  memset(w->counts, 0, (size_t)nj * (size_t)nj * sizeof *w->counts);
  out->counts = w->counts;
  w->jgs = trec_grow(w->jgs, &w->cap_jgs, np, sizeof *w->jgs);
  w->ecs = trec_grow(w->ecs, &w->cap_ecs, 2 * np, sizeof *w->ecs); /* a class per line, and one spare per jg */
  w->ranks = trec_grow(w->ranks, &w->cap_ranks, np, sizeof *w->ranks);
  out->jgs = w->jgs;
  /* Judgement groups: a matrix for each with several subgroups, sized first
     (the pools must not move once groups point into them). */
  size_t npa = 0;
  for (size_t b = 0; b < np; b = jg_end(w->p, np, b)) npa += subgroups(w->p, b, jg_end(w->p, np, b)) > 1;
  w->pa = trec_grow(w->pa, &w->cap_pa, xmul(npa, xmul((size_t)nj, (size_t)nj)), 1);
  w->rel = trec_grow(w->rel, &w->cap_rel, xmul(npa, (size_t)nj), sizeof *w->rel);
  long ec_at = 0, rank_at = 0;
  size_t m = 0;
  for (size_t b = 0, end; b < np; b = end) {
    const par *p = w->p;
    end = jg_end(p, np, b);
    double rl = -3.0; /* trec_eval's "illegal" level before the first */
    long nrl = 0;
    for (size_t k = b; k < end; k++)
      if (rl != p[k].rel) {
        nrl++;
        rl = p[k].rel;
      }
    score_pref_jg *jg = &w->jgs[out->num_jgs++];
    memset(jg, 0, sizeof *jg);
    int rc;
    if (subgroups(p, b, end) > 1) {
      jg->pa = w->pa + m * (size_t)nj * (size_t)nj;
      jg->rel_array = w->rel + m * (size_t)nj;
      m++;
      rc = form_pa(jg, p + b, end - b, out, err, errlen);
    } else {
      jg->ecs = w->ecs + ec_at;
      ec_at += (long)(end - b) + 1;
      rc = form_ec(w, jg, p + b, end - b, nrl, &rank_at, out, err, errlen);
    }
    if (rc) return -1;
  }
  return 0;
}

/* ---------------- the measures' ratios ---------------- */

static long jg_count(const score_pref_jg *jg, int ful, int poss, long *possible) {
  long f = (ful & PF_RET ? jg->ful_ret : 0) + (ful & PF_IMP ? jg->ful_imp : 0);
  *possible = (poss & PF_RET ? jg->poss_ret : 0) + (poss & PF_IMP ? jg->poss_imp : 0) +
              (poss & PF_NOTOCCUR ? jg->poss_notoccur : 0);
  return f;
}

long score_prefs_count(const score_prefs *p, int ful, int poss) {
  long sum = 0, possible;
  for (long i = 0; i < p->num_jgs; i++) {
    sum += jg_count(&p->jgs[i], ful, poss, &possible);
    sum += possible;
  }
  return sum;
}

double score_prefs_ratio(const score_prefs *p, int ful, int poss) {
  long f = score_prefs_count(p, ful, 0), q = score_prefs_count(p, 0, poss);
  return q ? (double)f / (double)q : 0.0;
}

double score_prefs_avgjg(const score_prefs *p, int ful, int poss) {
  double sum = 0.0;
  for (long i = 0; i < p->num_jgs; i++) {
    long q, f = jg_count(&p->jgs[i], ful, poss, &q);
    if (q) sum += (double)f / (double)q;
  }
  return sum > 0.0 ? sum / (double)p->num_jgs : 0.0;
}

double score_prefs_pair(const score_prefs *p, int areas) {
  long nj = p->num_judged, njr = p->num_judged_ret, num_pairs = 0;
  const uint16_t *c = p->counts;
  double sum = 0;
  /* Pairs i < j by area: both retrieved, i retrieved only, neither. */
  for (int area = PF_RET; area <= PF_NOTOCCUR; area <<= 1) {
    if (!(areas & area)) continue;
    long i0 = area == PF_NOTOCCUR ? njr : 0, i1 = area == PF_NOTOCCUR ? nj : njr;
    for (long i = i0; i < i1; i++)
      for (long j = area == PF_IMP ? njr : i + 1; j < (area == PF_RET ? njr : nj); j++) {
        unsigned a = c[i * nj + j], b = c[j * nj + i];
        if (!a && !b) continue;
        num_pairs++;
        if (area != PF_NOTOCCUR) sum += (double)a / (double)(a + b);
      }
  }
  return num_pairs ? sum / (double)num_pairs : 0.0;
}

/* trec_eval's recalculation for a jg with more non-relevant documents than
   relevant ones, quirks included: with classes, the last (non-relevant)
   class is paired with its own first `keep` documents too; with a matrix,
   the non-relevant documents kept number num_rel even for the _ret form. */
static void recalc(const score_pref_jg *jg, long njr, long nj, long keep, int ret_only, long *ful_out,
                   long *poss_out) {
  long ful = 0, poss = 0;
  if (jg->num_ecs > 0) {
    /* The first `keep` documents of the last class, which trec_eval takes for
       the non-relevant one: with a negative rel_level below it (qrels_prefs
       of a -1 grade) it is smaller, and trec_eval reads past it; here the
       class ends where it ends. */
    const score_ec *last = &jg->ecs[jg->num_ecs - 1];
    const score_ec nonrel = {0.0, keep < last->num_in_ec ? keep : last->num_in_ec, last->docid_ranks};
    for (int pass = 0; pass < 2; pass++)
      for (long e1 = 0; e1 < jg->num_ecs; e1++)
        for (long e2 = pass ? 0 : e1 + 1; e2 < (pass ? 1 : jg->num_ecs - 1); e2++) {
          const score_ec *a = &jg->ecs[e1], *b = pass ? &nonrel : &jg->ecs[e2];
          for (long i = 0; i < a->num_in_ec && (!ret_only || a->docid_ranks[i] < njr); i++)
            for (long j = 0; j < b->num_in_ec && (!ret_only || b->docid_ranks[j] < njr); j++) {
              if (a->docid_ranks[i] < b->docid_ranks[j] && a->docid_ranks[i] < njr) ful++;
              else poss++;
            }
        }
  } else {
    long lim = ret_only ? njr : nj, seen = 0, first_discarded;
    for (first_discarded = 0; first_discarded < lim; first_discarded++)
      if (jg->rel_array[first_discarded] == 0.0 && ++seen == jg->num_rel + 1) break;
    for (long i = 0; i < lim; i++) {
      if (i >= first_discarded && jg->rel_array[i] == 0.0) continue;
      for (long j = 0; j < lim; j++) {
        if (j == i || (j >= first_discarded && jg->rel_array[j] == 0.0) || !jg->pa[i * nj + j]) continue;
        if (i < njr && j > i) ful++; /* A1, and A3 when j is not retrieved */
        else poss++;                 /* A2, A4, A5 */
      }
    }
  }
  *ful_out = ful;
  *poss_out = poss + ful;
}

double score_prefs_avgjg_rnonrel(const score_prefs *p, int ret_only) {
  double sum = 0.0;
  for (long i = 0; i < p->num_jgs; i++) {
    const score_pref_jg *jg = &p->jgs[i];
    long R = ret_only ? jg->num_rel_ret : jg->num_rel, N = ret_only ? jg->num_nonrel_ret : jg->num_nonrel;
    long ful, poss;
    if (R >= N) {
      int all = PF_RET | (ret_only ? 0 : PF_IMP);
      ful = jg_count(jg, all, all | (ret_only ? 0 : PF_NOTOCCUR), &poss);
      ful += jg->num_rel_ret * (R - N);
      poss += jg->num_rel * (R - N);
    } else {
      recalc(jg, p->num_judged_ret, p->num_judged, R, ret_only, &ful, &poss);
    }
    sum += (double)ful / (double)poss;
  }
  return sum > 0.0 ? sum / (double)p->num_jgs : 0.0;
}
