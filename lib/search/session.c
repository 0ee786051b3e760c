/* session.c: one search of a document file, as `rank` runs it (session.h). */
#include "search/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "stream/rec.h"

/* The ids each side leaves out: vector modes take --skip-ids for both
 * sides, or with skip_special each stream's special_ids; bm25 always leaves
 * out each stream's specials (required unless --skip-ids names them) plus
 * --skip-ids. The arrays are malloc'ed into skip[0] (documents), skip[1]. */
static int skip_side(const rec_schema *s, const char *what, const rank_run_opts *ro, bool bm25, uint32_t **ids,
                     size_t *n, char *err, size_t errlen) {
  *ids = NULL, *n = 0;
  if (!bm25 && !ro->skip_special) {
    *ids = xmalloc((ro->nskip + 1) * sizeof **ids);
    if (ro->nskip) memcpy(*ids, ro->skip_ids, ro->nskip * sizeof **ids);
    *n = ro->nskip;
    return 0;
  }
  const char *v = rec_meta_get(s, "special_ids");
  if (!v && !bm25)
    return set_err(err, errlen,
                   "--skip-special: the %s stream has no 'special_ids' metadata; give the ids with --skip-ids "
                   "(mBERT: --skip-ids 101,102)",
                   what);
  if (!v && !ro->nskip)
    return set_err(err, errlen,
                   "--mode bm25: the %s stream has no 'special_ids' metadata, so its [CLS]/[SEP] would count as "
                   "words: name the ids to leave out with --skip-ids (tokenize writes this metadata)",
                   what);
  if (v && rank_parse_ids(v, ids, n) != 0)
    return set_err(err, errlen, "the %s stream's 'special_ids' metadata '%s' is not a list of ids", what, v);
  size_t extra = bm25 ? ro->nskip : 0;
  *ids = xrealloc(*ids, (*n + extra + 1) * sizeof **ids);
  if (extra) memcpy(*ids + *n, ro->skip_ids, extra * sizeof **ids);
  *n += extra;
  return 0;
}

typedef struct {
  const rank_docs *docs;
  const rank_queries *qs;
  rank_out *out;
  rank_named_hit *named;
  size_t cap;
  uint64_t empty;
  int failed;
  char *err;
  size_t errlen;
} emit_ctx;

static void emit(void *ctx, size_t q, const rank_hit *hits, size_t n) {
  emit_ctx *e = ctx;
  if (e->failed) return;
  /* Nothing computed from a file that changed under us is written. */
  if (rank_docs_intact(e->docs, e->err, e->errlen) != 0) {
    e->failed = 1;
    return;
  }
  if (!n) e->empty++;
  if (n > e->cap) e->named = xrealloc(e->named, (e->cap = 2 * n) * sizeof *e->named);
  for (size_t i = 0; i < n; i++) {
    const rank_item *d = &e->docs->items[hits[i].doc];
    e->named[i] = (rank_named_hit){d->id, d->idlen, hits[i].score};
  }
  const rank_item *qi = &e->qs->items[q];
  if (rank_out_query(e->out, qi->id, qi->idlen, e->qs->first + q, e->named, n, e->err, e->errlen) != 0) e->failed = 1;
}

int rank_run(rank_docs *docs, rec_reader *queries, rank_run_opts *ro, rank_out *out, rank_run_stats *st, char *err,
             size_t errlen) {
  rank_opts *o = &ro->search;
  bool bm25 = o->mode == RANK_BM25;
  const char *record = bm25 ? "tokens" : "vectors";
  const rec_schema *qs_schema = rec_reader_schema(queries);
  char why[512];
  memset(st, 0, sizeof *st);
  if (rec_schema_expect(qs_schema, (const char *const[]){record, NULL}, why, sizeof why) != 0)
    return set_err(err, errlen, "stdin: %s", why);
  int64_t dq = bm25 ? 0 : rec_get_dim(qs_schema, "d");
  bool uses_pooled = (o->mode == RANK_DENSE || (o->mode == RANK_OT && o->ot_base == RANK_DENSE)) && !o->pool_mean;
  int bad = bm25 ? rank_bm25_meta_check(qs_schema, docs->schema, why, sizeof why)
                 : rank_meta_check(qs_schema, dq > 0 ? (size_t)dq : 0, docs->schema, docs->d,
                                   ro->allow_model_mismatch, uses_pooled, why, sizeof why);
  if (bad) return set_err(err, errlen, "%s (queries: stdin, documents: %s)", why, docs->path);
  size_t d = bm25 ? 0 : docs->d ? docs->d : dq > 0 ? (size_t)dq : 1;

  uint32_t *skip[2] = {NULL, NULL};
  size_t nskip[2] = {0, 0};
  rank_index *ix = NULL;
  rank_queries qs = {0};
  emit_ctx e = {docs, &qs, out, NULL, 0, 0, 0, err, errlen};
  int rc = -1;
  if (skip_side(docs->schema, "document", ro, bm25, &skip[0], &nskip[0], err, errlen) != 0 ||
      skip_side(qs_schema, "query", ro, bm25, &skip[1], &nskip[1], err, errlen) != 0)
    goto done;
  o->skip_ids = skip[0], o->nskip = nskip[0];
  o->q_skip_ids = skip[1], o->nq_skip = nskip[1];
  o->doc_name = docs->path, o->query_name = "stdin";

  if (rank_out_check_docs(out, docs, err, errlen) != 0) goto done;
  ix = rank_index_new(docs->items, docs->n, d ? d : 1, o, why, sizeof why);
  if (!ix) {
    set_err(err, errlen, "%s: %s", docs->path, why);
    goto done;
  }
  st->docs = docs->n;
  st->empty_docs = rank_index_empty(ix);
  char mode[128], tag[64];
  snprintf(mode, sizeof mode, "%s%s", rank_mode_name(o->mode), o->csls_k ? " csls" : "");
  snprintf(tag, sizeof tag, "otclir-%s", rank_mode_name(o->mode));
  if (rank_out_start(out, mode, tag, o->k, o->tie_desc, err, errlen) != 0) goto done;

  /* CSLS needs every query at once (r_d); otherwise one batch at a time. */
  size_t batch = o->csls_k ? 0 : o->batch ? o->batch : 4096;
  int got;
  while ((got = rank_queries_read(queries, &qs, batch, d, err, errlen)) > 0) {
    o->query_base = qs.first;
    if (rank_search(ix, qs.items, qs.n, o, emit, &e, err, errlen) != 0 || e.failed) goto done;
    st->queries += qs.n;
    if (ro->progress) ro->progress(ro->progress_ctx, st->queries);
  }
  if (got < 0) goto done;
  if (rank_docs_intact(docs, err, errlen) != 0) goto done;
  st->empty_queries = e.empty;
  rc = 0;
done:
  /* A file that changed under us explains whatever else went wrong. */
  if (rc != 0) rank_docs_intact(docs, err, errlen);
  rank_index_free(ix);
  rank_queries_free(&qs);
  free(skip[0]), free(skip[1]), free(e.named);
  return rc;
}
