/* align.c: ot-align's work on pair streams (align.h). */
#include "train/align.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "ot/align.h"

typedef struct {
  char *id;
  uint64_t index;
  int n, m, d;
  float *S, *T, *plan;
  unsigned char *mask_s, *mask_t;
  size_t cap_s, cap_t, cap_plan, cap_ms, cap_mt;
} slot;

struct align_job {
  align_opts o;
  int write_errno; /* of a failed write of the plan stream */
  rec_reader *r;
  char *name;
  rec_writer *w;
  int f[5];  /* id, src_vecs, tgt_vecs, src_ids, tgt_ids */
  int fo[6]; /* id, cost, iters, err, plan, align */
  uint32_t *special[2];
  size_t nspecial[2];
  slot *slots;
  ot_problem *prob;
  ot_result *res;
  void *work;
  size_t work_cap;
  uint32_t *pairs;
  size_t pairs_cap;
  char *line;
  size_t line_cap;
  align_summary sum;
};

static void grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return;
  *p = xrealloc(*p, xmul(need, elem));
  *cap = need;
}

/* Append a comma-separated id list to list (NULL: only check it). */
static bool parse_ids(const char *s, uint32_t **list, size_t *n) {
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || errno || v > UINT32_MAX || *p == '-' || *p == '+' || *p == ' ') return false;
    if (list) {
      *list = xrealloc(*list, sizeof(uint32_t) * (*n + 1));
      (*list)[(*n)++] = (uint32_t)v;
    }
    p = end;
    if (*p == ',' && p[1]) p++;
    else if (*p) return false;
  }
  return p != s;
}

bool align_ids_valid(const char *s) { return parse_ids(s, NULL, NULL); }

static int check_metadata(align_job *j, const rec_schema *s, char *err, size_t errlen) {
  static const char *const keys[] = {"model", "layer", NULL};
  for (const char *const *k = keys; *k; k++) {
    char ks[64], kt[64];
    snprintf(ks, sizeof ks, "src_%s", *k), snprintf(kt, sizeof kt, "tgt_%s", *k);
    const char *vs = rec_meta_get(s, ks), *vt = rec_meta_get(s, kt);
    if (vs && vt && strcmp(vs, vt) != 0 && !j->o.allow_mismatch)
      return set_err(err, errlen,
                     "%s: the two sides come from different encoders (%s '%s', %s '%s'); "
                     "use --allow-model-mismatch if that is intended",
                     j->name, ks, vs, kt, vt);
  }
  for (int side = 0; side < 2; side++) {
    if (j->o.skip_special) {
      char key[32];
      snprintf(key, sizeof key, "%s_special_ids", side ? "tgt" : "src");
      const char *sp = rec_meta_get(s, key);
      if (!sp) snprintf(key, sizeof key, "special_ids"), sp = rec_meta_get(s, key);
      if (!sp)
        return set_err(err, errlen,
                       "%s: --skip-special needs the stream metadata %s_special_ids or special_ids (written by "
                       "tokenize); try --skip-ids or --skip-ends",
                       j->name, side ? "tgt" : "src");
      if (*sp && !parse_ids(sp, &j->special[side], &j->nspecial[side]))
        return set_err(err, errlen, "%s: stream metadata %s is not a comma-separated list of ids: '%s'", j->name, key,
                       sp);
    }
    if (j->o.skip_ids) parse_ids(j->o.skip_ids, &j->special[side], &j->nspecial[side]);
  }
  return 0;
}

static rec_schema *plan_schema(const align_opts *o, const rec_schema *is) {
  rec_schema *os = rec_schema_builtin("plan");
  for (int k = 0; k < is->nmeta; k++) rec_meta_set(os, is->meta_key[k], is->meta_val[k]);
  char buf[64];
  fmt_double(buf, sizeof buf, o->ot.eps), rec_meta_set(os, "ot_eps", buf);
  fmt_double(buf, sizeof buf, o->ot.tol), rec_meta_set(os, "ot_tol", buf);
  snprintf(buf, sizeof buf, "%d", o->ot.max_iter), rec_meta_set(os, "ot_max_iter", buf);
  if (o->ot.newton > 0) snprintf(buf, sizeof buf, "%d", o->ot.newton), rec_meta_set(os, "ot_newton", buf);
  rec_meta_set(os, "ot_cost", o->cost_name ? o->cost_name : "cosine");
  snprintf(buf, sizeof buf, "%s%s%s", o->skip_ends ? "ends," : "", o->skip_special ? "special," : "",
           o->skip_ids ? "ids," : "");
  if (buf[0]) buf[strlen(buf) - 1] = 0;
  rec_meta_set(os, "ot_left_out", buf[0] ? buf : "none");
  if (o->skip_ids) rec_meta_set(os, "ot_skip_ids", o->skip_ids);
  return os;
}

align_job *align_open(const align_opts *o, rec_reader *r, const char *name, const char *out, char *err,
                      size_t errlen) {
  align_job *j = xcalloc(1, sizeof *j);
  j->o = *o;
  j->r = r;
  j->name = xstrdup(name);
  const rec_schema *is = rec_reader_schema(r);
  if (check_metadata(j, is, err, errlen) != 0) goto fail;
  static const char *const in_names[5] = {"id", "src_vecs", "tgt_vecs", "src_ids", "tgt_ids"};
  for (int k = 0; k < 5; k++) j->f[k] = rec_field_index(is, in_names[k]);
  if (j->f[1] < 0 || j->f[2] < 0) {
    set_err(err, errlen, "%s: the pair stream has no src_vecs/tgt_vecs fields", name);
    goto fail;
  }
  if (!o->text) {
    rec_schema *os = plan_schema(o, is);
    j->w = rec_writer_path(out, os, NULL);
    rec_schema_free(os);
    if (!j->w) {
      set_err(err, errlen, "cannot create %s: %s", out, strerror(errno));
      goto fail;
    }
    const rec_schema *ws = rec_writer_schema(j->w);
    static const char *const out_names[6] = {"id", "cost", "iters", "err", "plan", "align"};
    for (int k = 0; k < 6; k++) j->fo[k] = rec_field_index(ws, out_names[k]);
  }
  j->slots = xcalloc(ALIGN_BATCH, sizeof *j->slots);
  j->prob = xcalloc(ALIGN_BATCH, sizeof *j->prob);
  j->res = xcalloc(ALIGN_BATCH, sizeof *j->res);
  return j;
fail:
  align_free(j);
  return NULL;
}

static bool is_special(const align_job *j, int side, uint32_t id) {
  for (size_t i = 0; i < j->nspecial[side]; i++)
    if (j->special[side][i] == id) return true;
  return false;
}

/* The sizes of a record's sides (rows, d), checked before anything of that
 * size is allocated. */
static int record_sizes(const align_job *j, const rec_record *rec, const char *id, int *n, int *m, int *d, char *err,
                        size_t errlen) {
  for (int side = 0; side < 2; side++) {
    int fv = j->f[1 + side];
    if (!rec_has(rec, fv))
      return set_err(err, errlen, "record %" PRIu64 " (id '%s'): no %s (run `embed` on this side first)", rec->index,
                     id, side ? "tgt_vecs" : "src_vecs");
    const rec_value *v = &rec->v[fv];
    if (side == 0) *n = (int)v->shape[0], *d = (int)v->shape[1];
    else if ((int)v->shape[1] != *d)
      return set_err(err, errlen, "record %" PRIu64 " (id '%s'): src_vecs has dimension %d, tgt_vecs %d", rec->index,
                     id, *d, (int)v->shape[1]);
    else *m = (int)v->shape[0];
  }
  if ((long)*n * *m > OT_MAX_CELLS)
    return set_err(err, errlen,
                   "record %" PRIu64 " (id '%s'): %d x %d tokens: a plan of %ld entries is above the limit of %ld "
                   "(OT_MAX_CELLS, e.g. 4096 x 4096 tokens)",
                   rec->index, id, *n, *m, (long)*n * *m, (long)OT_MAX_CELLS);
  return 0;
}

/* Copy one record's vectors and masks into a slot (the reader's buffer is reused). */
static int load_slot(align_job *j, slot *sl, const rec_record *rec, char *err, size_t errlen) {
  size_t idlen = 0;
  const char *id = rec_has(rec, j->f[0]) ? rec_str(rec, j->f[0], &idlen) : "";
  free(sl->id);
  sl->id = xmalloc(idlen + 1);
  memcpy(sl->id, id, idlen), sl->id[idlen] = 0;
  sl->index = rec->index;
  if (record_sizes(j, rec, sl->id, &sl->n, &sl->m, &sl->d, err, errlen) != 0) return -1;
  for (int side = 0; side < 2; side++) {
    int rows = side ? sl->m : sl->n;
    size_t cnt = (size_t)rows * sl->d;
    float **dst = side ? &sl->T : &sl->S;
    grow((void **)dst, side ? &sl->cap_t : &sl->cap_s, cnt ? cnt : 1, sizeof(float));
    memcpy(*dst, rec->v[j->f[1 + side]].data, cnt * sizeof(float));
    unsigned char **mask = side ? &sl->mask_t : &sl->mask_s;
    grow((void **)mask, side ? &sl->cap_mt : &sl->cap_ms, rows ? (size_t)rows : 1, 1);
    memset(*mask, 1, (size_t)rows);
    if (j->o.skip_ends && rows > 0) (*mask)[0] = 0, (*mask)[rows - 1] = 0;
    if (j->nspecial[side]) {
      int fi = j->f[3 + side];
      size_t nid = 0;
      const uint32_t *ids = rec_has(rec, fi) ? rec_u32(rec, fi, &nid) : NULL;
      if (!ids || nid != (size_t)rows)
        return set_err(err, errlen,
                       "record %" PRIu64 " (id '%s'): leaving out special tokens needs %s with one id per vector (%zu "
                       "ids, %d vectors)",
                       rec->index, sl->id, side ? "tgt_ids" : "src_ids", nid, rows);
      for (int i = 0; i < rows; i++)
        if (is_special(j, side, ids[i])) (*mask)[i] = 0;
    }
  }
  size_t np = (size_t)sl->n * (size_t)sl->m;
  grow((void **)&sl->plan, &sl->cap_plan, np ? np : 1, sizeof(float));
  return 0;
}

static const char *side_field(int side) { return side ? "tgt_vecs" : "src_vecs"; }

/* One solved record: its plan record or Pharaoh line. */
static int emit_result(align_job *j, const slot *sl, const ot_result *r, align_emit_fn emit, void *ctx, char *err,
                       size_t errlen) {
  if (r->status != OT_OK) {
    if (r->status == OT_ERR_NONFINITE || r->status == OT_ERR_ZERO_NORM)
      return set_err(err, errlen, "record %" PRIu64 " (id '%s'): %s token %d: %s", sl->index, sl->id,
                     side_field(r->bad_side), r->bad_index, ot_strerror(r->status));
    if (r->status == OT_ERR_EMPTY)
      return set_err(err, errlen, "record %" PRIu64 " (id '%s'): %s: no token takes part (n = %d, m = %d)", sl->index,
                     sl->id, side_field(r->bad_side), sl->n, sl->m);
    return set_err(err, errlen, "record %" PRIu64 " (id '%s'): %s", sl->index, sl->id, ot_strerror(r->status));
  }
  if (!r->converged) {
    if (j->sum.nonconverged < ALIGN_REPORTED_IDS) j->sum.first_ids[j->sum.nonconverged] = xstrdup(sl->id);
    j->sum.nonconverged++;
  }
  size_t k = 0;
  if (j->o.want_align || j->o.text) {
    size_t maxk = (size_t)sl->n * (j->o.threshold > 0 ? (size_t)sl->m : 1);
    grow((void **)&j->pairs, &j->pairs_cap, 2 * maxk + 2, sizeof(uint32_t));
    k = ot_hard_alignment(sl->plan, sl->n, sl->m, sl->mask_s, sl->mask_t, j->o.threshold, j->pairs);
  }
  if (j->o.text) {
    size_t len = 0;
    grow((void **)&j->line, &j->line_cap, k * 24 + 2, 1);
    for (size_t q = 0; q < k; q++)
      len += (size_t)sprintf(j->line + len, "%s%" PRIu32 "-%" PRIu32, q ? " " : "", j->pairs[2 * q],
                             j->pairs[2 * q + 1]);
    j->line[len++] = '\n';
    emit(ctx, j->line, len);
    return 0;
  }
  rec_writer *w = j->w;
  rec_put_str(w, j->fo[0], sl->id, strlen(sl->id));
  rec_put_f64_scalar(w, j->fo[1], r->cost);
  rec_put_u32_scalar(w, j->fo[2], (uint32_t)r->iters);
  rec_put_f64_scalar(w, j->fo[3], r->err);
  if (j->o.want_plan) {
    uint32_t shape[2] = {(uint32_t)sl->n, (uint32_t)sl->m};
    rec_put(w, j->fo[4], sl->plan, shape);
  }
  if (j->o.want_align) {
    uint32_t shape[2] = {(uint32_t)k, 2};
    rec_put(w, j->fo[5], j->pairs, shape);
  }
  if (rec_write(w) != 0) {
    j->write_errno = rec_writer_errno(w);
    return set_err(err, errlen, "%s", rec_writer_error(w));
  }
  return 0;
}

int align_run(align_job *j, align_emit_fn emit, align_progress_fn progress, void *ctx, char *err, size_t errlen) {
  rec_record rec;
  int rc = 0, more = 1, pending = 0; /* pending: rec holds a record read but not yet in a batch */
  while (more && !rc) {
    int nb = 0;
    long cells = 0;
    while (nb < ALIGN_BATCH) {
      if (!pending) {
        int k = rec_read(j->r, &rec);
        if (k < 0) {
          rc = set_err(err, errlen, "%s", rec_error(j->r));
          break;
        }
        if (k > 0) {
          more = 0;
          break;
        }
      }
      pending = 0;
      /* the batch holds at most ALIGN_BATCH_CELLS plan entries (and at least one record) */
      int n = 0, m = 0, d = 0;
      size_t idl = 0;
      const char *id = rec_has(&rec, j->f[0]) ? rec_str(&rec, j->f[0], &idl) : "";
      char idbuf[256];
      snprintf(idbuf, sizeof idbuf, "%.*s", (int)idl, id);
      if ((rc = record_sizes(j, &rec, idbuf, &n, &m, &d, err, errlen)) != 0) break;
      if (nb > 0 && cells + (long)n * m > ALIGN_BATCH_CELLS) {
        pending = 1;
        break;
      }
      /* the reader's buffer is reused: copy the record before reading on */
      slot *sl = &j->slots[nb];
      if ((rc = load_slot(j, sl, &rec, err, errlen)) != 0) break;
      cells += (long)n * m;
      j->prob[nb] = (ot_problem){.S = sl->S, .T = sl->T, .n = sl->n, .m = sl->m, .ds = sl->d, .dt = sl->d,
                                 .mask_s = sl->mask_s, .mask_t = sl->mask_t};
      j->res[nb] = (ot_result){.plan = sl->plan};
      nb++;
    }
    if (rc || nb == 0) break;
    size_t need = ot_batch_workspace_size(j->prob, (size_t)nb, &j->o.ot);
    if (need > j->work_cap) {
      free(j->work);
      j->work = xmalloc(need);
      j->work_cap = need;
    }
    ot_solve_batch(j->prob, j->res, (size_t)nb, &j->o.ot, j->work, j->work_cap);
    for (int b = 0; b < nb && !rc; b++) rc = emit_result(j, &j->slots[b], &j->res[b], emit, ctx, err, errlen);
    j->sum.pairs += (uint64_t)nb;
    if (progress) progress(ctx, j->sum.pairs);
    /* a pending record (it did not fit) starts the next batch: it is still in
       the reader's buffer, nothing having been read since */
  }
  if (rc) {
    if (j->w) rec_writer_abort(j->w);
    j->w = NULL;
    return -1;
  }
  if (j->w) {
    rec_writer *w = j->w;
    j->w = NULL;
    if (rec_writer_close(w) != 0) {
      j->write_errno = rec_writer_errno(NULL);
      return set_err(err, errlen, "%s", rec_writer_error(NULL));
    }
  }
  return 0;
}

int align_write_errno(const align_job *j) { return j->write_errno; }

const align_summary *align_job_summary(const align_job *j) { return &j->sum; }

void align_free(align_job *j) {
  if (!j) return;
  if (j->w) rec_writer_abort(j->w);
  if (j->slots)
    for (int b = 0; b < ALIGN_BATCH; b++) {
      slot *s = &j->slots[b];
      free(s->id), free(s->S), free(s->T), free(s->plan), free(s->mask_s), free(s->mask_t);
    }
  for (int q = 0; q < ALIGN_REPORTED_IDS; q++) free(j->sum.first_ids[q]);
  free(j->slots), free(j->prob), free(j->res), free(j->work), free(j->pairs), free(j->line);
  free(j->special[0]), free(j->special[1]), free(j->name);
  free(j);
}
