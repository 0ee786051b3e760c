/* io.c: the queries rank reads and the runs it writes (see session.h). */
#include "search/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "stream/rec.h"

/* ---- queries ---- */

static void clear_queries(rank_queries *qs) {
  for (size_t i = 0; i < qs->n; i++) {
    free((void *)qs->items[i].id);
    free((void *)qs->items[i].ids);
    free((void *)qs->items[i].vecs);
    free((void *)qs->items[i].vec);
  }
  qs->n = 0;
}

void rank_queries_free(rank_queries *qs) {
  clear_queries(qs);
  free(qs->items);
  memset(qs, 0, sizeof *qs);
}

static void *dup_mem(const void *p, size_t n) {
  void *q = xmalloc(n ? n : 1);
  if (n) memcpy(q, p, n);
  return q;
}

int rank_queries_read(rec_reader *r, rank_queries *qs, size_t max, size_t d, char *err, size_t errlen) {
  const rec_schema *s = rec_reader_schema(r);
  int f_id = rec_field_index(s, "id"), f_ids = rec_field_index(s, "ids"), f_vecs = d ? rec_field_index(s, "vecs") : -1,
      f_vec = d ? rec_field_index(s, "vec") : -1;
  if (f_id < 0 || f_ids < 0 || (d && f_vecs < 0)) {
    set_err(err, errlen, "stdin: the queries' schema lacks id, ids%s", d ? " or vecs" : "");
    return -1;
  }
  qs->first += qs->n;
  clear_queries(qs);
  rec_record rec;
  int rc = 0;
  while (!max || qs->n < max) {
    if ((rc = rec_read(r, &rec)) != 0) break;
    if (qs->n == qs->cap) qs->items = xrealloc(qs->items, (qs->cap = qs->cap ? 2 * qs->cap : 256) * sizeof *qs->items);
    rank_item *it = &qs->items[qs->n];
    memset(it, 0, sizeof *it);
    size_t idlen, n, nv;
    const char *id = rec_str(&rec, f_id, &idlen);
    char *idc = xmalloc(idlen + 1);
    memcpy(idc, id, idlen);
    idc[idlen] = 0;
    it->id = idc;
    it->idlen = idlen;
    const uint32_t *ids = rec_u32(&rec, f_ids, &n);
    it->n = (uint32_t)n;
    it->ids = dup_mem(ids, n * sizeof *ids);
    qs->n++;
    if (!d) continue; /* tokens (bm25): ids only */
    const float *vecs = rec_f32(&rec, f_vecs, &nv);
    if (rec.v[f_vecs].shape[1] != d) {
      set_err(err, errlen, "stdin: query record %llu ('%s'): d = %u, documents have d = %zu",
              (unsigned long long)rec.index, idc, rec.v[f_vecs].shape[1], d);
      return -1;
    }
    it->vecs = dup_mem(vecs, nv * sizeof *vecs);
    it->vec = rec_has(&rec, f_vec) ? dup_mem(rec_f32(&rec, f_vec, NULL), d * sizeof(float)) : NULL;
  }
  if (rc < 0) {
    set_err(err, errlen, "%s", rec_error(r));
    return -1;
  }
  return qs->n > 0;
}

/* ---- runs ---- */

struct rank_out {
  bool trec;
  char *path;
  char *tag;
  rank_write_fn write;
  rec_schema *schema;
  rec_writer *w;
  int f_qid, f_docid, f_rank, f_score;
  char *line;
  size_t linecap;
};

rank_out *rank_out_new(bool trec, const char *tag, rank_write_fn write, const char *path) {
  rank_out *o = xcalloc(1, sizeof *o);
  o->trec = trec;
  o->path = xstrdup(path ? path : "-");
  o->tag = tag ? xstrdup(tag) : NULL;
  o->write = write;
  return o;
}

int rank_out_start(rank_out *o, const char *mode_desc, const char *default_tag, size_t k, bool tie_desc, char *err,
                   size_t errlen) {
  if (!o->tag) o->tag = xstrdup(default_tag);
  if (o->trec) return 0;
  o->schema = rec_schema_builtin("run");
  if (!o->schema) return set_err(err, errlen, "the 'run' schema is not built in");
  char kbuf[32];
  snprintf(kbuf, sizeof kbuf, "%zu", k);
  rec_meta_set(o->schema, "rank_mode", mode_desc);
  rec_meta_set(o->schema, "runid", o->tag); /* what `score` prints as the run's name */
  rec_meta_set(o->schema, "rank_k", kbuf);
  rec_meta_set(o->schema, "rank_ties", tie_desc ? "desc" : "asc");
  o->w = rec_writer_path(o->path, o->schema, NULL);
  if (!o->w) return set_err(err, errlen, "cannot create '%s'", o->path);
  const rec_schema *ws = rec_writer_schema(o->w);
  o->f_qid = rec_field_index(ws, "qid");
  o->f_docid = rec_field_index(ws, "docid");
  o->f_rank = rec_field_index(ws, "rank");
  o->f_score = rec_field_index(ws, "score");
  return 0;
}

/* A TREC column: one word. */
static bool trec_word(const char *s, size_t n) {
  if (!n) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') return false;
  return true;
}

int rank_out_errno(const rank_out *o) { return o->w ? rec_writer_errno(o->w) : 0; }

int rank_out_check_docs(const rank_out *o, const rank_docs *docs, char *err, size_t errlen) {
  if (!o->trec) return 0;
  for (size_t i = 0; i < docs->n; i++)
    if (!trec_word(docs->items[i].id, docs->items[i].idlen))
      return set_err(err, errlen, "%s: document record %zu: id '%.*s' is empty or contains white space: not writable "
                     "as a TREC run", docs->path, i, (int)(docs->items[i].idlen > 200 ? 200 : docs->items[i].idlen),
                     docs->items[i].id);
  return 0;
}

int rank_out_query(rank_out *o, const char *qid, size_t qidlen, uint64_t qrec, const rank_named_hit *hits, size_t n,
                   char *err, size_t errlen) {
  if (o->trec && n && !trec_word(qid, qidlen))
    return set_err(err, errlen, "stdin: query record %llu: id '%.*s' is empty or contains white space: not writable "
                   "as a TREC run", (unsigned long long)qrec, (int)(qidlen > 200 ? 200 : qidlen), qid);
  size_t taglen = strlen(o->tag);
  for (size_t i = 0; i < n; i++) {
    const rank_named_hit *h = &hits[i];
    if (o->trec) {
      if (!trec_word(h->docid, h->len))
        return set_err(err, errlen, "document id '%.*s' is empty or contains white space: not writable as a TREC run",
                       (int)(h->len > 200 ? 200 : h->len), h->docid);
      char num[80];
      size_t need = qidlen + h->len + taglen + sizeof num + 8;
      if (need > o->linecap) o->line = xrealloc(o->line, o->linecap = 2 * need);
      char *p = o->line;
      memcpy(p, qid, qidlen), p += qidlen;
      memcpy(p, " Q0 ", 4), p += 4;
      memcpy(p, h->docid, h->len), p += h->len;
      int len = snprintf(num, 40, " %zu ", i + 1);
      fmt_double(num + len, sizeof num - (size_t)len, h->score);
      len += (int)strlen(num + len);
      memcpy(p, num, (size_t)len), p += len;
      *p++ = ' ';
      memcpy(p, o->tag, taglen), p += taglen;
      *p++ = '\n';
      o->write(o->line, (size_t)(p - o->line));
    } else {
      rec_put_str(o->w, o->f_qid, qid, qidlen);
      rec_put_str(o->w, o->f_docid, h->docid, h->len);
      rec_put_u32_scalar(o->w, o->f_rank, (uint32_t)(i + 1));
      rec_put_f64_scalar(o->w, o->f_score, h->score);
      if (rec_write(o->w) != 0) return set_err(err, errlen, "%s", rec_writer_error(o->w));
    }
  }
  return 0;
}

int rank_out_close(rank_out *o, char *err, size_t errlen) {
  int rc = 0;
  if (o->w) {
    rec_writer *w = o->w;
    o->w = NULL;
    if (rec_writer_close(w) != 0) rc = set_err(err, errlen, "%s", rec_writer_error(NULL));
  }
  rank_out_abort(o);
  return rc;
}

void rank_out_abort(rank_out *o) {
  if (!o) return;
  if (o->w) rec_writer_abort(o->w);
  rec_schema_free(o->schema);
  free(o->tag), free(o->line), free(o->path);
  free(o);
}
