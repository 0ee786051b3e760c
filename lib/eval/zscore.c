/* zscore.c: trec_eval's Z-score files (-Z) and its conversion (see trec.h). */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/trec.h"
#include "eval/trec_lines.h"

static int cmp_z(const void *a, const void *b, void *ctx) {
  const trec_zscore *x = a, *y = b;
  int c = strcmp(x->qid, y->qid);
  return c ? c : strcmp(x->meas, y->meas);
}

static int zscores_parse(trec_zscores *z, const char *src, size_t len, const char *name, int compat, char *err,
                         size_t errlen) {
  z->buf = xmalloc(len + 1);
  memcpy(z->buf, src, len);
  z->buf[len] = 0;
  trec_lines L = {.p = z->buf, .end = z->buf + len, .name = name, .err = err, .errlen = errlen};
  const char *tok[4];
  uint32_t tl[4];
  int nf, rc;
  size_t cap = 0;
  while ((rc = trec_next_line(&L, tok, tl, 4, &nf)) > 0) {
    if (nf != 4) return trec_line_error(&L, "expected 4 fields (qid measure mean stddev), got %d", nf);
    double v[2];
    for (int k = 0; k < 2; k++)
      if (trec_parse_real(tok[2 + k], tl[2 + k], compat, &v[k]))
        return trec_line_error(&L, "%s '%.*s' is not a finite number (--compat reads it as trec_eval does)",
                               k ? "stddev" : "mean", (int)(tl[2 + k] > 40 ? 40 : tl[2 + k]), tok[2 + k]);
    if (z->n == cap) z->z = xrealloc(z->z, xmul(cap = cap ? 2 * cap : 256, sizeof *z->z));
    /* The fields end at a blank or the line's end: terminate them in place. */
    ((char *)tok[0])[tl[0]] = 0;
    ((char *)tok[1])[tl[1]] = 0;
    z->z[z->n++] = (trec_zscore){.qid = tok[0], .meas = tok[1], .mean = v[0], .stddev = v[1]};
  }
  if (rc < 0) return -1;
  if (!z->n) return set_err(err, errlen, "%s: cannot read zscores file: it has no lines", name);
  trec_msort(z->z, z->n, sizeof *z->z, cmp_z, NULL);
  z->q_begin = xmalloc((z->n + 1) * sizeof *z->q_begin);
  for (size_t i = 0; i < z->n; i++)
    if (i == 0 || strcmp(z->z[i].qid, z->z[i - 1].qid)) z->q_begin[z->nq++] = i;
  z->q_begin[z->nq] = z->n;
  return 0;
}

int trec_zscores_parse(trec_zscores *z, const char *src, size_t len, const char *name, int compat,
                       char *err, size_t errlen) {
  memset(z, 0, sizeof *z);
  int rc = zscores_parse(z, src, len, name, compat, err, errlen);
  if (rc) trec_zscores_free(z);
  return rc;
}

int trec_zscores_load(trec_zscores *z, const char *path, int compat, char *err, size_t errlen) {
  trec_buf b;
  memset(z, 0, sizeof *z);
  if (trec_read_file(path, &b, err, errlen)) return -1;
  int rc = trec_zscores_parse(z, b.p, b.len, path, compat, err, errlen);
  trec_buf_free(&b);
  return rc;
}

void trec_zscores_free(trec_zscores *z) {
  free(z->z);
  free(z->q_begin);
  free(z->buf);
  memset(z, 0, sizeof *z);
}

/* trec_eval's binary search over [0, n] inclusive: it compares with the
   element just past the range too. Past the whole table it reads memory we
   do not have; that compares unequal here. */
static long te_search(const trec_zscores *z, size_t from, size_t n, const char *key, int by_qid) {
  long start = 0, end = (long)n;
  while (start <= end) {
    long cur = (start + end) / 2;
    size_t at = by_qid ? (cur < (long)z->nq ? z->q_begin[cur] : z->n) : from + (size_t)cur;
    if (at >= z->n) return -1;
    int c = strcmp(key, by_qid ? z->z[at].qid : z->z[at].meas);
    if (c < 0) end = cur - 1;
    else if (c > 0) start = cur + 1;
    else return by_qid ? cur : (long)at;
  }
  return -1;
}

double trec_zscore_convert(const trec_zscores *z, const char *qid, const char *meas, double v) {
  long q = te_search(z, 0, z->nq, qid, 1);
  if (q < 0) return TREC_ZSCORE_MISSING;
  size_t from = z->q_begin[q];
  long m = te_search(z, from, z->q_begin[q + 1] - from, meas, 0);
  if (m < 0) return TREC_ZSCORE_MISSING;
  const trec_zscore *e = &z->z[m];
  if (e->stddev) return (v - e->mean) / e->stddev;
  return v == e->mean ? 0.0 : TREC_ZSCORE_MISSING;
}
