/* attack.c: embedding-space attacks written as `tokens` records (noisy.h).
 *
 * Pairs are batched (until batch_tokens student tokens); each batch gets
 * distill_attack's delta (fgsm, or pgd from a random start seeded by the
 * seed and the batch's first record), and each pair is written as a tokens
 * record: id, lang = src_lang, ids = src_ids and embeds = the model's word
 * embeddings of the ids + delta, which `embed` reads in place of the ids.
 * Metadata: the input's, plus src_vocab/src_special_ids as vocab/special_ids,
 * attack_model and attack. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "train/noisy.h"

typedef struct {
  const noisy_opts *o;
  distill_trainer *tr;
  bert_model *m;
  rec_writer *w;
  int oid, olang, oids, oemb;
  int B, cap;
  char **idv, **langv;
  int *sl, *tl;
  uint32_t *ids;
  float *tv;
  size_t N, M, capN, capM;
  uint64_t first;
} attack_batch;

static char *dupn(const char *s, size_t n) {
  char *c = xmalloc(n + 1);
  memcpy(c, s, n);
  c[n] = 0;
  return c;
}

static int flush(attack_batch *a, char *err, size_t errlen) {
  if (!a->B) return 0;
  int d = a->m->cfg.hidden, rc = 0;
  float *delta = xmalloc(xmul(a->N ? a->N : 1, (size_t)d * sizeof *delta));
  distill_batch bt = {.B = a->B, .src_len = a->sl, .src_ids = a->ids, .tgt_len = a->tl, .tgt_vecs = a->tv};
  char e[512];
  const noisy_opts *o = a->o;
  if (distill_attack(a->tr, &bt, o->attack, o->adv_eps, o->adv_alpha, o->adv_steps, o->po.seed ^ a->first, delta, e,
                     sizeof e) != 0)
    rc = set_err(err, errlen, "records from %" PRIu64 ": %s", a->first, e);
  size_t off = 0;
  for (int b = 0; b < a->B && !rc; b++) {
    float *x = delta + off * d;
    for (int i = 0; i < a->sl[b]; i++)
      for (int k = 0; k < d; k++) x[(size_t)i * d + k] += a->m->p.word_emb[(size_t)a->ids[off + (size_t)i] * d + k];
    rec_put_str(a->w, a->oid, a->idv[b], strlen(a->idv[b]));
    rec_put_str(a->w, a->olang, a->langv[b], strlen(a->langv[b]));
    uint32_t s1[1] = {(uint32_t)a->sl[b]}, s2[2] = {(uint32_t)a->sl[b], (uint32_t)d};
    rec_put(a->w, a->oids, a->ids + off, s1);
    rec_put(a->w, a->oemb, x, s2);
    if (rec_write(a->w) != 0) rc = set_err(err, errlen, "%s", rec_writer_error(a->w));
    off += (size_t)a->sl[b];
  }
  free(delta);
  for (int b = 0; b < a->B; b++) free(a->idv[b]), free(a->langv[b]);
  a->B = 0, a->N = 0, a->M = 0;
  return rc;
}

int noisy_attack_records(const noisy_opts *o, const noisy_model *nm, rec_reader *r, const char *name,
                         const char *out, char *err, size_t errlen) {
  const rec_schema *is = rec_reader_schema(r);
  char e[512];
  if (strcmp(is->record, "pair") != 0)
    return set_err(err, errlen, "%s: --attack reads pair records (src_ids, tgt_vecs), got a '%s' stream", name,
                   is->record);
  if (rec_schema_expect(is, (const char *const[]){"pair", NULL}, e, sizeof e) != 0)
    return set_err(err, errlen, "%s: %s", name, e);
  static const char *const needed[] = {"id", "src_lang", "src_ids", "tgt_vecs"};
  for (size_t k = 0; k < sizeof needed / sizeof *needed; k++)
    if (noisy_need_field(is, needed[k], name, err, errlen) < 0) return -1;
  if (noisy_check_vocab(is, nm, o, name, err, errlen) != 0) return -1;
  bert_model *m = nm->m;
  int d = m->cfg.hidden;
  /* radii relative to the median embedding norm become absolute here */
  noisy_opts rel = *o;
  double scale = o->adv_relative ? bert_median_word_norm(m) : 1;
  rel.adv_eps *= scale, rel.adv_alpha *= scale;
  o = &rel;
  int64_t sd = rec_get_dim(is, "d");
  if (sd > 0 && sd != d)
    return set_err(err, errlen, "the stream's tgt_vecs have d = %lld but the model's hidden size is %d", (long long)sd,
                   d);
  rec_schema *os = rec_schema_builtin("tokens");
  for (int i = 0; i < is->nmeta; i++) rec_meta_set(os, is->meta_key[i], is->meta_val[i]);
  /* the source side's identity, under the names a tokens stream uses */
  const char *sv = rec_meta_get(is, "src_vocab"), *ss = rec_meta_get(is, "src_special_ids");
  if (sv) rec_meta_set(os, "vocab", sv);
  if (ss) rec_meta_set(os, "special_ids", ss);
  char mid[24], desc[128];
  bert_model_id(m, mid);
  rec_meta_set(os, "attack_model", mid);
  int nd = snprintf(desc, sizeof desc, "%s eps=%g steps=%d alpha=%g", o->attack == DISTILL_ADV_FGSM ? "fgsm" : "pgd",
                    o->adv_eps, o->adv_steps, o->adv_alpha);
  if (o->adv_relative && nd > 0 && (size_t)nd < sizeof desc)
    snprintf(desc + nd, sizeof desc - (size_t)nd, " (%g x median embedding norm %g)", o->adv_eps / scale, scale);
  rec_meta_set(os, "attack", desc);
  rec_set_dim(os, "d", d);
  rec_writer *w = rec_writer_path(out, os, NULL);
  rec_schema_free(os);
  if (!w) return set_err(err, errlen, "cannot create %s: %s", out, strerror(errno));
  distill_cfg dc;
  distill_cfg_defaults(&dc);
  dc.loss = o->loss;
  const rec_schema *ws = rec_writer_schema(w);
  attack_batch a = {.o = o, .m = m, .w = w, .tr = distill_trainer_new(m, &dc), .cap = 256, .capN = 4096, .capM = 4096};
  a.oid = rec_field_index(ws, "id"), a.olang = rec_field_index(ws, "lang"), a.oids = rec_field_index(ws, "ids");
  a.oemb = rec_field_index(ws, "embeds");
  a.idv = xmalloc((size_t)a.cap * sizeof *a.idv), a.langv = xmalloc((size_t)a.cap * sizeof *a.langv);
  a.sl = xmalloc((size_t)a.cap * sizeof *a.sl), a.tl = xmalloc((size_t)a.cap * sizeof *a.tl);
  a.ids = xmalloc(a.capN * sizeof *a.ids);
  a.tv = xmalloc(a.capM * (size_t)d * sizeof *a.tv);
  int fid = rec_field_index(is, "id"), fsl = rec_field_index(is, "src_lang"), fsi = rec_field_index(is, "src_ids"),
      ftv = rec_field_index(is, "tgt_vecs");
  rec_record rec;
  int rc, bad = 0;
  while (!bad && (rc = rec_read(r, &rec)) == 0) {
    if (!rec_has(&rec, ftv)) {
      bad = set_err(err, errlen, "record %" PRIu64 ": --attack needs tgt_vecs (embed --side tgt)", rec.index);
      break;
    }
    size_t n, nv, l;
    const uint32_t *si = rec_u32(&rec, fsi, &n);
    const float *t = rec_f32(&rec, ftv, &nv);
    size_t m_ = nv / (size_t)d;
    if (n < 3 || m_ < 3) {
      bad = set_err(err, errlen, "record %" PRIu64 ": nothing to attack (a side has no token besides [CLS]/[SEP])",
                    rec.index);
      break;
    }
    for (size_t i = 0; i < n && !bad; i++)
      if (si[i] >= (uint32_t)m->cfg.vocab_size)
        bad = set_err(err, errlen, "record %" PRIu64 ": src id %u >= vocab_size %d", rec.index, si[i],
                      m->cfg.vocab_size);
    if (bad) break;
    if (a.B == 0) a.first = rec.index;
    if (a.B == a.cap) {
      a.cap *= 2;
      a.idv = xrealloc(a.idv, (size_t)a.cap * sizeof *a.idv), a.langv = xrealloc(a.langv, (size_t)a.cap * sizeof *a.langv);
      a.sl = xrealloc(a.sl, (size_t)a.cap * sizeof *a.sl), a.tl = xrealloc(a.tl, (size_t)a.cap * sizeof *a.tl);
    }
    const char *s = rec_str(&rec, fid, &l);
    a.idv[a.B] = dupn(s, l);
    s = rec_str(&rec, fsl, &l);
    a.langv[a.B] = dupn(s, l);
    while (a.N + n > a.capN) a.ids = xrealloc(a.ids, (a.capN *= 2) * sizeof *a.ids);
    while (a.M + m_ > a.capM) a.tv = xrealloc(a.tv, (a.capM *= 2) * (size_t)d * sizeof *a.tv);
    memcpy(a.ids + a.N, si, n * sizeof *si);
    memcpy(a.tv + a.M * d, t, nv * sizeof *t);
    a.sl[a.B] = (int)n, a.tl[a.B] = (int)m_;
    a.N += n, a.M += m_;
    a.B++;
    if (a.N >= (size_t)o->batch_tokens && flush(&a, err, errlen) != 0) bad = -1;
  }
  if (!bad && rc < 0) bad = set_err(err, errlen, "%s", rec_error(r));
  if (!bad && flush(&a, err, errlen) != 0) bad = -1;
  for (int b = 0; b < a.B; b++) free(a.idv[b]), free(a.langv[b]);
  free(a.idv), free(a.langv), free(a.sl), free(a.tl), free(a.ids), free(a.tv);
  distill_trainer_free(a.tr);
  if (bad) {
    rec_writer_abort(w);
    return -1;
  }
  if (rec_writer_close(w) != 0) return set_err(err, errlen, "%s", rec_writer_error(NULL));
  return 0;
}
