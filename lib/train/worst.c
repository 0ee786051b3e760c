/* worst.c: worst of K noisy copies under a student (noisy.h).
 *
 * Records are held (copied: the reader's buffer moves on) until their K
 * candidates fill a model batch (about K (len(src_text) / 3 + 2) tokens
 * each, against batch_tokens); then every candidate is tokenized, all are
 * scored in one distill_eval pass, and each record is written with its
 * highest-loss candidate (ties: the lowest k; candidate 0 is the plain
 * random noise). A candidate with no token besides [CLS]/[SEP] cannot be
 * scored and is never chosen. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "text/unicode.h"
#include "train/noisy.h"

typedef struct {
  char *id, *sl, *tl, *tt, *src_text;
  size_t idl, sll, tll, ttl, stl;
  int has_tt;
  uint32_t *tgt_ids;
  size_t m;
  float *tgt_vecs;
  uint64_t key;
} held_t;

struct noisy_worst {
  const noisy_opts *o;
  const noisy_model *nm;
  rec_writer *w;
  distill_trainer *tr;
  int d;
  int fid, fsl, ftl, fti, ftv, fst, ftt;        /* input fields */
  int oid, osl, otl, osi, oti, otv, ost, ott;  /* output fields */
  held_t *held;
  int nheld, capheld;
  size_t held_tokens;
};

static char *dupn(const char *s, size_t n) {
  char *c = xmalloc(n + 1);
  memcpy(c, s, n);
  c[n] = 0;
  return c;
}

static void held_free(held_t *h) {
  free(h->id), free(h->sl), free(h->tl), free(h->tt), free(h->tgt_ids), free(h->tgt_vecs), free(h->src_text);
  memset(h, 0, sizeof *h);
}

noisy_worst *noisy_worst_new(const noisy_opts *o, const noisy_model *nm, rec_writer *w, const rec_schema *in,
                             char *err, size_t errlen) {
  int64_t d = rec_get_dim(in, "d");
  if (d > 0 && d != nm->m->cfg.hidden) {
    set_err(err, errlen, "the stream's tgt_vecs have d = %lld but the model's hidden size is %d", (long long)d,
            nm->m->cfg.hidden);
    return NULL;
  }
  noisy_worst *x = xcalloc(1, sizeof *x);
  x->o = o, x->nm = nm, x->w = w, x->d = nm->m->cfg.hidden;
  distill_cfg dc;
  distill_cfg_defaults(&dc);
  dc.loss = o->loss;
  x->tr = distill_trainer_new(nm->m, &dc);
  const rec_schema *os = rec_writer_schema(w);
  x->fid = rec_field_index(in, "id"), x->oid = rec_field_index(os, "id");
  x->fsl = rec_field_index(in, "src_lang"), x->osl = rec_field_index(os, "src_lang");
  x->ftl = rec_field_index(in, "tgt_lang"), x->otl = rec_field_index(os, "tgt_lang");
  x->fti = rec_field_index(in, "tgt_ids"), x->oti = rec_field_index(os, "tgt_ids");
  x->ftv = rec_field_index(in, "tgt_vecs"), x->otv = rec_field_index(os, "tgt_vecs");
  x->fst = rec_field_index(in, "src_text"), x->ost = rec_field_index(os, "src_text");
  x->ftt = rec_field_index(in, "tgt_text"), x->ott = rec_field_index(os, "tgt_text");
  x->osi = rec_field_index(os, "src_ids");
  return x;
}

void noisy_worst_free(noisy_worst *x) {
  if (!x) return;
  for (int h = 0; h < x->nheld; h++) held_free(&x->held[h]);
  free(x->held);
  distill_trainer_free(x->tr);
  free(x);
}

int noisy_worst_add(noisy_worst *x, const rec_record *rec, char *err, size_t errlen) {
  if (!rec_has(rec, x->ftv))
    return set_err(err, errlen, "record %" PRIu64 ": --worst-of needs tgt_vecs (embed --side tgt)", rec->index);
  size_t l, m, nv;
  const char *text = rec_str(rec, x->fst, &l);
  size_t bad = uc_utf8_first_invalid((const unsigned char *)text, l);
  if (bad < l) return set_err(err, errlen, "record %" PRIu64 ": invalid UTF-8 at byte %zu of src_text", rec->index, bad + 1);
  const uint32_t *ti = rec_u32(rec, x->fti, &m);
  const float *tv = rec_f32(rec, x->ftv, &nv);
  if (nv != m * (size_t)x->d)
    return set_err(err, errlen, "record %" PRIu64 ": tgt_vecs has %zu values, expected %zu x %d", rec->index, nv, m,
                   x->d);
  if (x->nheld == x->capheld) {
    x->capheld = x->capheld ? 2 * x->capheld : 64;
    x->held = xrealloc(x->held, (size_t)x->capheld * sizeof *x->held);
  }
  held_t *h = &x->held[x->nheld++];
  memset(h, 0, sizeof *h);
  const char *s = rec_str(rec, x->fid, &l);
  h->id = dupn(s, l), h->idl = l;
  h->key = x->o->key_by_index ? rec->index : perturb_key_of_id(s, l);
  s = rec_str(rec, x->fsl, &l), h->sl = dupn(s, l), h->sll = l;
  s = rec_str(rec, x->ftl, &l), h->tl = dupn(s, l), h->tll = l;
  if ((h->has_tt = rec_has(rec, x->ftt))) s = rec_str(rec, x->ftt, &l), h->tt = dupn(s, l), h->ttl = l;
  s = rec_str(rec, x->fst, &l), h->src_text = dupn(s, l), h->stl = l;
  h->m = m;
  h->tgt_ids = xmalloc((m ? m : 1) * sizeof *h->tgt_ids);
  memcpy(h->tgt_ids, ti, m * sizeof *ti);
  h->tgt_vecs = xmalloc(nv * sizeof *tv + 1);
  memcpy(h->tgt_vecs, tv, nv * sizeof *tv);
  x->held_tokens += (size_t)x->o->worst_of * (l / 3 + 2);
  if (x->held_tokens >= (size_t)x->o->batch_tokens) return noisy_worst_flush(x, err, errlen);
  return 0;
}

int noisy_worst_flush(noisy_worst *x, char *err, size_t errlen) {
  if (!x->nheld) return 0;
  const noisy_opts *o = x->o;
  int K = o->worst_of, d = x->d, rc = 0;
  perturb_buf buf = {0};
  wp_tokens toks = {0};
  size_t maxl = o->max_len;
  if (maxl > (size_t)x->nm->m->cfg.max_position) maxl = (size_t)x->nm->m->cfg.max_position;
  /* the candidates of all held records, each a pair of its own */
  int B = x->nheld * K;
  int *sl = xmalloc((size_t)B * sizeof *sl), *tl = xmalloc((size_t)B * sizeof *tl);
  size_t N = 0, M = 0, capN = 1024;
  uint32_t *ids = xmalloc(capN * sizeof *ids);
  char **texts = xcalloc((size_t)B, sizeof *texts);
  size_t *tlens = xmalloc((size_t)B * sizeof *tlens);
  for (int h = 0; h < x->nheld; h++) M += (size_t)K * x->held[h].m;
  float *tv = xmalloc(xmul(M ? M : 1, (size_t)d * sizeof *tv));
  M = 0;
  for (int h = 0; h < x->nheld; h++) {
    held_t *hd = &x->held[h];
    for (int k = 0; k < K; k++) {
      int b = h * K + k;
      size_t bad;
      if (perturb_text(&o->po, perturb_key_variant(hd->key, (uint64_t)k), hd->src_text, hd->stl, &buf, NULL, &bad) !=
          0) {
        rc = set_err(err, errlen, "record %s: invalid UTF-8 at byte %zu of the text", hd->id, bad + 1);
        goto out;
      }
      texts[b] = dupn(buf.buf, buf.len);
      tlens[b] = buf.len;
      wp_encode(x->nm->tok, buf.buf, buf.len, maxl, 0, &toks);
      if (N + toks.n > capN) {
        while (N + toks.n > capN) capN *= 2;
        ids = xrealloc(ids, capN * sizeof *ids);
      }
      memcpy(ids + N, toks.ids, toks.n * sizeof *ids);
      sl[b] = (int)toks.n;
      N += toks.n;
      tl[b] = (int)hd->m;
      memcpy(tv + M * d, hd->tgt_vecs, hd->m * (size_t)d * sizeof *tv);
      M += hd->m;
    }
  }
  /* the scorable candidates, packed */
  double *loss = xmalloc((size_t)B * sizeof *loss);
  int *use = xmalloc((size_t)B * sizeof *use), nb = 0;
  uint32_t *ids2 = xmalloc((N ? N : 1) * sizeof *ids2);
  float *tv2 = xmalloc(xmul(M ? M : 1, (size_t)d * sizeof *tv2));
  int *sl2 = xmalloc((size_t)B * sizeof *sl2), *tl2 = xmalloc((size_t)B * sizeof *tl2);
  size_t off = 0, toff = 0, n2 = 0, m2 = 0;
  for (int b = 0; b < B; b++) {
    loss[b] = -INFINITY;
    if (sl[b] >= 3 && tl[b] >= 3) {
      memcpy(ids2 + n2, ids + off, (size_t)sl[b] * sizeof *ids2);
      memcpy(tv2 + m2 * d, tv + toff * d, (size_t)tl[b] * d * sizeof *tv2);
      sl2[nb] = sl[b], tl2[nb] = tl[b];
      use[nb++] = b;
      n2 += (size_t)sl[b], m2 += (size_t)tl[b];
    }
    off += (size_t)sl[b], toff += (size_t)tl[b];
  }
  if (nb) {
    distill_batch bt = {.B = nb, .src_len = sl2, .src_ids = ids2, .tgt_len = tl2, .tgt_vecs = tv2};
    double *pp = xmalloc((size_t)nb * sizeof *pp);
    char e[512];
    if (distill_eval(x->tr, &bt, NULL, NULL, pp, NULL, e, sizeof e) != 0)
      rc = set_err(err, errlen, "record %s: %s", x->held[0].id, e);
    for (int i = 0; i < nb && !rc; i++) loss[use[i]] = pp[i];
    free(pp);
  }
  for (int h = 0; h < x->nheld && !rc; h++) {
    held_t *hd = &x->held[h];
    int best = 0;
    for (int k = 1; k < K; k++)
      if (loss[h * K + k] > loss[h * K + best]) best = k;
    size_t o0 = 0;
    for (int b = 0; b < h * K + best; b++) o0 += (size_t)sl[b];
    int b = h * K + best;
    rec_put_str(x->w, x->oid, hd->id, hd->idl);
    rec_put_str(x->w, x->osl, hd->sl, hd->sll);
    rec_put_str(x->w, x->otl, hd->tl, hd->tll);
    uint32_t shp[1] = {(uint32_t)sl[b]};
    rec_put(x->w, x->osi, ids + o0, shp);
    shp[0] = (uint32_t)hd->m;
    rec_put(x->w, x->oti, hd->tgt_ids, shp);
    uint32_t shv[2] = {(uint32_t)hd->m, (uint32_t)d};
    rec_put(x->w, x->otv, hd->tgt_vecs, shv);
    rec_put_str(x->w, x->ost, texts[b], tlens[b]);
    if (hd->has_tt) rec_put_str(x->w, x->ott, hd->tt, hd->ttl);
    if (rec_write(x->w) != 0) rc = set_err(err, errlen, "%s", rec_writer_error(x->w));
  }
  free(loss), free(use), free(ids2), free(tv2), free(sl2), free(tl2);
out:
  for (int b = 0; b < B; b++) free(texts[b]);
  free(texts), free(tlens), free(sl), free(tl), free(ids), free(tv);
  perturb_buf_free(&buf);
  wp_tokens_free(&toks);
  for (int h = 0; h < x->nheld; h++) held_free(&x->held[h]);
  x->nheld = 0;
  x->held_tokens = 0;
  return rc;
}
