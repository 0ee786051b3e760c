/* merge.c: the runs of a sharded search merged into the run of the whole
 * (session.h says why this is exact). */
#include "search/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "stream/rec.h"

typedef struct {
  const char *path;
  rec_reader *r;
  int f_qid, f_docid, f_rank, f_score;
  bool has;                  /* a record is in head */
  char *qid, *docid;         /* the head record, copied */
  size_t qidlen, docidlen, qcap, dcap;
  uint32_t rank;
  double score;
  uint64_t index;
  size_t k;                  /* the shard's rank_k (0 = all) */
} run_in;

typedef struct {
  char *docid;
  size_t len;
  double score;
  size_t run;
} mhit;

static void copy_str(char **dst, size_t *cap, size_t *len, const char *s, size_t n) {
  if (n + 1 > *cap) *dst = xrealloc(*dst, *cap = 2 * (n + 1));
  memcpy(*dst, s, n);
  (*dst)[n] = 0;
  *len = n;
}

/* Read the next record into head: 0 (head.has tells), -1 + message. */
static int advance(run_in *in, char *err, size_t errlen) {
  rec_record rec;
  int rc = rec_read(in->r, &rec);
  in->has = rc == 0;
  if (rc < 0) return set_err(err, errlen, "%s", rec_error(in->r));
  if (rc) return 0;
  size_t n;
  const char *s = rec_str(&rec, in->f_qid, &n);
  copy_str(&in->qid, &in->qcap, &in->qidlen, s, n);
  s = rec_str(&rec, in->f_docid, &n);
  copy_str(&in->docid, &in->dcap, &in->docidlen, s, n);
  in->rank = rec_u32_scalar(&rec, in->f_rank);
  in->score = rec_f64_scalar(&rec, in->f_score);
  in->index = rec.index;
  return 0;
}

static bool tie_desc_order;
/* The hit order of rank.h: score descending, ties by docid (bytewise). */
static int cmp_mhit(const void *a, const void *b) {
  const mhit *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  int c = rank_idcmp(x->docid, x->len, y->docid, y->len);
  return tie_desc_order ? -c : c;
}

static int cmp_docid(const void *a, const void *b) {
  const mhit *x = a, *y = b;
  return rank_idcmp(x->docid, x->len, y->docid, y->len);
}

/* The shards' common metadata; refuses what cannot be merged exactly. */
static int check_meta(run_in *in, size_t n, const char **mode, const char **runid, bool *tie_desc, size_t *k,
                      char *err, size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    const rec_schema *s = rec_reader_schema(in[i].r);
    const char *m = rec_meta_get(s, "rank_mode"), *id = rec_meta_get(s, "runid"), *kk = rec_meta_get(s, "rank_k"),
               *t = rec_meta_get(s, "rank_ties");
    if (!m || !kk || !t)
      return set_err(err, errlen, "%s: not a run written by rank (no rank_mode, rank_k or rank_ties metadata)",
                     in[i].path);
    if (strstr(m, "csls"))
      return set_err(err, errlen,
                     "%s: a run made with --csls cannot be merged: CSLS's r_q is the mean of a query's K best "
                     "similarities over ALL documents, and each shard computed it over its own; rank the whole "
                     "collection, or see lib/search/session.h for the exact two-pass scheme",
                     in[i].path);
    if (!strncmp(m, "ot", 2))
      return set_err(err, errlen,
                     "%s: 'ot' runs cannot be merged: ot reranks the R best first-stage candidates of the whole "
                     "collection, and a shard's R best are others",
                     in[i].path);
    if (!strncmp(m, "bm25", 4))
      return set_err(err, errlen,
                     "%s: 'bm25' runs cannot be merged: idf, N and avgdl are statistics of the whole collection, "
                     "and each shard computed them over its own documents",
                     in[i].path);
    char *end;
    in[i].k = strtoull(kk, &end, 10);
    if (*end || !*kk) return set_err(err, errlen, "%s: rank_k metadata '%s' is not a number", in[i].path, kk);
    if (i == 0) {
      *mode = m, *runid = id, *tie_desc = !strcmp(t, "desc");
      continue;
    }
    if (strcmp(m, *mode))
      return set_err(err, errlen, "%s and %s: runs of different modes ('%s', '%s')", in[0].path, in[i].path, *mode, m);
    if (*tie_desc != !strcmp(t, "desc"))
      return set_err(err, errlen, "%s and %s: runs with different tie orders (--ties)", in[0].path, in[i].path);
    if (!id != !*runid || (id && strcmp(id, *runid))) *runid = NULL; /* different tags: the merge's own */
  }
  size_t kmin = 0;
  for (size_t i = 0; i < n; i++)
    if (in[i].k && (!kmin || in[i].k < kmin)) kmin = in[i].k;
  if (*k == 0) {
    for (size_t i = 1; i < n; i++)
      if (in[i].k != in[0].k)
        return set_err(err, errlen, "%s and %s: runs made with different -k (%zu, %zu): give the merge's -k",
                       in[0].path, in[i].path, in[0].k, in[i].k);
    *k = in[0].k;
  } else if (kmin && *k > kmin) {
    return set_err(err, errlen, "-k %zu: a shard kept only its %zu best (rank_k): the merge would miss documents",
                   *k, kmin);
  }
  return 0;
}

int rank_merge(const char *const *runs, size_t nruns, rec_reader *queries, size_t k, rank_out *out,
               rank_run_stats *st, char *err, size_t errlen) {
  memset(st, 0, sizeof *st);
  if (!nruns) return set_err(err, errlen, "--merge: no runs given");
  const rec_schema *qs = rec_reader_schema(queries);
  int f_qid = rec_field_index(qs, "id");
  if (f_qid < 0 || qs->fields[f_qid].type != REC_STR)
    return set_err(err, errlen, "stdin: the queries' stream has no str field 'id'");
  run_in *in = xcalloc(nruns, sizeof *in);
  mhit *h = NULL;
  rank_named_hit *named = NULL;
  size_t hcap = 0;
  int rc = -1;
  for (size_t i = 0; i < nruns; i++) {
    in[i].path = runs[i];
    char why[512];
    in[i].r = rec_open_path(runs[i], why, sizeof why);
    if (!in[i].r) {
      set_err(err, errlen, "%s", why);
      goto done;
    }
    const rec_schema *s = rec_reader_schema(in[i].r);
    if (rec_schema_expect(s, (const char *const[]){"run", NULL}, why, sizeof why) != 0) {
      set_err(err, errlen, "%s: %s", runs[i], why);
      goto done;
    }
    in[i].f_qid = rec_field_index(s, "qid"), in[i].f_docid = rec_field_index(s, "docid");
    in[i].f_rank = rec_field_index(s, "rank"), in[i].f_score = rec_field_index(s, "score");
  }
  const char *mode = NULL, *runid = NULL;
  bool tie_desc = false;
  if (check_meta(in, nruns, &mode, &runid, &tie_desc, &k, err, errlen) != 0) goto done;
  tie_desc_order = tie_desc;
  if (rank_out_start(out, mode, runid ? runid : "otclir-merge", k, tie_desc, err, errlen) != 0) goto done;
  for (size_t i = 0; i < nruns; i++)
    if (advance(&in[i], err, errlen) != 0) goto done;

  rec_record q;
  int got;
  while ((got = rec_read(queries, &q)) == 0) {
    size_t qidlen;
    const char *qid = rec_str(&q, f_qid, &qidlen);
    size_t n = 0;
    for (size_t i = 0; i < nruns; i++) {
      /* this query's group in shard i: records of its qid, ranks 1, 2, ... */
      size_t g0 = n;
      while (in[i].has && in[i].qidlen == qidlen && !memcmp(in[i].qid, qid, qidlen) && in[i].rank == n - g0 + 1) {
        if (n == hcap) h = xrealloc(h, (hcap = hcap ? 2 * hcap : 256) * sizeof *h);
        h[n] = (mhit){xmalloc(in[i].docidlen + 1), in[i].docidlen, in[i].score, i};
        memcpy(h[n].docid, in[i].docid, in[i].docidlen + 1);
        n++;
        if (n - g0 > 1 && cmp_mhit(&h[n - 2], &h[n - 1]) > 0) {
          set_err(err, errlen, "%s: record %llu: query '%s': ranks out of the order of score then docid %s",
                  in[i].path, (unsigned long long)in[i].index, qid, tie_desc ? "descending" : "ascending");
          goto free_hits;
        }
        if (in[i].k && n - g0 > in[i].k) {
          set_err(err, errlen, "%s: record %llu: query '%s' has more hits than the run's rank_k %zu", in[i].path,
                  (unsigned long long)in[i].index, qid, in[i].k);
          goto free_hits;
        }
        if (advance(&in[i], err, errlen) != 0) goto free_hits;
      }
    }
    /* a document in two shards: the shards were not disjoint */
    if (n > 1) qsort(h, n, sizeof *h, cmp_docid);
    for (size_t j = 1; j < n; j++)
      if (!cmp_docid(&h[j - 1], &h[j])) {
        set_err(err, errlen, "query '%s': document '%s' is in %s and in %s: shards must hold disjoint documents", qid,
                h[j].docid, in[h[j - 1].run].path, in[h[j].run].path);
        goto free_hits;
      }
    if (n > 1) qsort(h, n, sizeof *h, cmp_mhit);
    size_t keep = k && n > k ? k : n;
    named = xrealloc(named, (keep + 1) * sizeof *named);
    for (size_t j = 0; j < keep; j++) named[j] = (rank_named_hit){h[j].docid, h[j].len, h[j].score};
    if (!keep) st->empty_queries++;
    st->queries++;
    if (rank_out_query(out, qid, qidlen, q.index, named, keep, err, errlen) != 0) goto free_hits;
    for (size_t j = 0; j < n; j++) free(h[j].docid);
    continue;
  free_hits:
    for (size_t j = 0; j < n; j++) free(h[j].docid);
    goto done;
  }
  if (got < 0) {
    set_err(err, errlen, "%s", rec_error(queries));
    goto done;
  }
  for (size_t i = 0; i < nruns; i++)
    if (in[i].has) {
      set_err(err, errlen,
              "%s: record %llu: query '%s' (rank %u) is not among the queries on stdin, or not in their order",
              in[i].path, (unsigned long long)in[i].index, in[i].qid, in[i].rank);
      goto done;
    }
  rc = 0;
done:
  for (size_t i = 0; i < nruns; i++) {
    rec_close(in[i].r);
    free(in[i].qid), free(in[i].docid);
  }
  free(in), free(h), free(named);
  return rc;
}
