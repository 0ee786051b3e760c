/* noisy.c: perturb's text and pair record modes (noisy.h). */
#include "train/noisy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"
#include "base/util.h"

noisy_model *noisy_model_load(const char *model_dir, const char *vocab_path, int lower, int tokenize, char *err,
                              size_t errlen) {
  noisy_model *nm = xcalloc(1, sizeof *nm);
  nm->model_dir = model_dir;
  if (model_dir) {
    if (!(nm->m = bert_load(model_dir, err, errlen))) goto fail;
    if (!tokenize) return nm;
    if (!vocab_path) {
      if (!nm->m->vocab) {
        set_err(err, errlen, "%s: the model folder has no vocab.txt (give --vocab)", model_dir);
        goto fail;
      }
      if (!(nm->v = vocab_from_mem(nm->m->vocab, nm->m->vocab_len, model_dir, err, errlen))) goto fail;
    }
  } else if (!vocab_path) {
    set_err(err, errlen, "pair records need a vocabulary to re-tokenize src_text: give --model DIR or --vocab FILE");
    goto fail;
  }
  if (vocab_path && !(nm->v = vocab_load(vocab_path, err, errlen))) goto fail;
  wp_options wo = {.lower = lower, .max_word_chars = 0};
  char e[512];
  if (!(nm->tok = wp_new(nm->v, &wo, e, sizeof e))) {
    set_err(err, errlen, "%s", e);
    goto fail;
  }
  uint32_t a = wp_cls_id(nm->tok), b = wp_sep_id(nm->tok);
  snprintf(nm->special, sizeof nm->special, "%u,%u", a < b ? a : b, a < b ? b : a);
  return nm;
fail:
  noisy_model_free(nm);
  return NULL;
}

void noisy_model_free(noisy_model *nm) {
  if (!nm) return;
  wp_free(nm->tok);
  vocab_free(nm->v);
  bert_free(nm->m);
  free(nm);
}

int noisy_need_field(const rec_schema *s, const char *field, const char *name, char *err, size_t errlen) {
  /* the builtin layout too: the record accessors do not check types */
  char why[512];
  if (rec_schema_expect(s, (const char *const[]){s->record, NULL}, why, sizeof why) != 0)
    return set_err(err, errlen, "%s: %s", name, why);
  int i = rec_field_index(s, field);
  if (i < 0) return set_err(err, errlen, "%s: '%s' stream without field '%s'", name, s->record, field);
  return i;
}

int noisy_check_vocab(const rec_schema *s, const noisy_model *nm, const noisy_opts *o, const char *name, char *err,
                      size_t errlen) {
  if (!nm->m || !nm->m->vocab || o->allow_vocab_mismatch) return 0;
  char h[65];
  otc_sha256_hex(nm->m->vocab, nm->m->vocab_len, h);
  const char *sv = rec_meta_get(s, "src_vocab");
  if (sv && strcmp(sv, h) != 0)
    return set_err(err, errlen,
                   "%s: its src_ids were made with another vocabulary than the model's: src_vocab %s, but "
                   "%s/vocab.txt has SHA-256 %s (--allow-vocab-mismatch if that is intended)",
                   name, sv, nm->model_dir, h);
  /* the modes that score with the model must tokenize with its vocabulary */
  if (o->worst_of && nm->v && strcmp(vocab_sha256(nm->v), h) != 0)
    return set_err(err, errlen,
                   "--vocab has SHA-256 %s, but the model reads the ids of %s/vocab.txt (%s); "
                   "--allow-vocab-mismatch if that is intended",
                   vocab_sha256(nm->v), nm->model_dir, h);
  return 0;
}

/* ---------------------------------------------------------------- text records */

int noisy_text_records(const noisy_opts *o, rec_reader *r, const char *name, const char *out, perturb_stats *st,
                       char *err, size_t errlen) {
  const rec_schema *is = rec_reader_schema(r);
  int fid = noisy_need_field(is, "id", name, err, errlen);
  if (fid < 0) return -1;
  int ftext = noisy_need_field(is, "text", name, err, errlen);
  if (ftext < 0) return -1;
  int flang = rec_field_index(is, "lang");
  rec_schema *os = rec_schema_builtin("text");
  for (int i = 0; i < is->nmeta; i++) rec_meta_set(os, is->meta_key[i], is->meta_val[i]);
  rec_writer *w = rec_writer_path(out, os, NULL);
  rec_schema_free(os);
  if (!w) return set_err(err, errlen, "cannot create %s: %s", out, strerror(errno));
  const rec_schema *ws = rec_writer_schema(w);
  int oid = rec_field_index(ws, "id"), olang = rec_field_index(ws, "lang"), otext = rec_field_index(ws, "text");
  rec_record rec;
  perturb_buf buf = {0};
  int rc;
  while ((rc = rec_read(r, &rec)) == 0) {
    size_t idl, tl, ll, bad;
    const char *id = rec_str(&rec, fid, &idl);
    const char *text = rec_str(&rec, ftext, &tl);
    uint64_t key = o->key_by_index ? rec.index : perturb_key_of_id(id, idl);
    if (perturb_text(&o->po, key, text, tl, &buf, st, &bad) != 0) {
      set_err(err, errlen, "record %" PRIu64 ": invalid UTF-8 at byte %zu of the text", rec.index, bad + 1);
      goto fail;
    }
    rec_put_str(w, oid, id, idl);
    if (rec_has(&rec, flang)) {
      const char *lang = rec_str(&rec, flang, &ll);
      rec_put_str(w, olang, lang, ll);
    }
    rec_put_str(w, otext, buf.buf, buf.len);
    if (rec_write(w) != 0) {
      set_err(err, errlen, "%s", rec_writer_error(w));
      goto fail;
    }
  }
  if (rc < 0) {
    set_err(err, errlen, "%s", rec_error(r));
    goto fail;
  }
  perturb_buf_free(&buf);
  if (rec_writer_close(w) != 0) return set_err(err, errlen, "%s", rec_writer_error(NULL));
  return 0;
fail:
  perturb_buf_free(&buf);
  rec_writer_abort(w);
  return -1;
}

/* ---------------------------------------------------------------- pair records */

/* The input's metadata with the source side's vocabulary replaced by the
 * one that re-tokenized it; "vocab"/"special_ids" (both sides' vocabulary)
 * stay only if the target side's is the same. */
static void pair_meta(rec_schema *os, const rec_schema *is, const noisy_model *nm) {
  const char *h = vocab_sha256(nm->v), *tv = rec_meta_get(is, "tgt_vocab");
  int both = tv && !strcmp(tv, h);
  const char *tsp = rec_meta_get(is, "tgt_special_ids");
  for (int i = 0; i < is->nmeta; i++) {
    const char *k = is->meta_key[i], *v = is->meta_val[i];
    if (!strcmp(k, "src_vocab")) v = h;
    else if (!strcmp(k, "src_special_ids")) v = nm->special;
    else if (!strcmp(k, "vocab")) v = both ? h : NULL;
    else if (!strcmp(k, "special_ids")) v = both && tsp ? tsp : NULL;
    if (v) rec_meta_set(os, k, v);
  }
  if (!rec_meta_get(os, "src_vocab")) rec_meta_set(os, "src_vocab", h);
  if (!rec_meta_get(os, "src_special_ids")) rec_meta_set(os, "src_special_ids", nm->special);
}

int noisy_pair_records(const noisy_opts *o, const noisy_model *nm, rec_reader *r, const char *name, const char *out,
                       perturb_stats *st, char *err, size_t errlen) {
  const rec_schema *is = rec_reader_schema(r);
  static const char *const needed[] = {"id", "src_lang", "tgt_lang", "src_ids", "tgt_ids", "src_text"};
  for (size_t k = 0; k < sizeof needed / sizeof *needed; k++)
    if (noisy_need_field(is, needed[k], name, err, errlen) < 0) return -1;
  if (noisy_check_vocab(is, nm, o, name, err, errlen) != 0) return -1;
  if (o->worst_of > 0 && !nm->m) return set_err(err, errlen, "--worst-of needs --model DIR");
  rec_schema *os = rec_schema_builtin("pair");
  pair_meta(os, is, nm);
  int64_t d = rec_get_dim(is, "d");
  if (d > 0) rec_set_dim(os, "d", d);
  rec_writer *w = rec_writer_path(out, os, NULL);
  rec_schema_free(os);
  if (!w) return set_err(err, errlen, "cannot create %s: %s", out, strerror(errno));
  const rec_schema *ws = rec_writer_schema(w);
  int fid = rec_field_index(is, "id"), fst = rec_field_index(is, "src_text");
  /* everything but the source side passes through: strings, then arrays */
  static const char *const rest[] = {"id", "src_lang", "tgt_lang", "tgt_text", "tgt_ids", "tgt_vecs"};
  int fin[6], fout[6];
  for (int k = 0; k < 6; k++) fin[k] = rec_field_index(is, rest[k]), fout[k] = rec_field_index(ws, rest[k]);
  int osi = rec_field_index(ws, "src_ids"), ost = rec_field_index(ws, "src_text");
  noisy_worst *worst = NULL;
  if (o->worst_of > 0 && !(worst = noisy_worst_new(o, nm, w, is, err, errlen))) goto fail_early;
  size_t maxl = o->max_len;
  if (nm->m && maxl > (size_t)nm->m->cfg.max_position) maxl = (size_t)nm->m->cfg.max_position;
  rec_record rec;
  perturb_buf buf = {0};
  wp_tokens toks = {0};
  int rc;
  while ((rc = rec_read(r, &rec)) == 0) {
    if (!rec_has(&rec, fst)) {
      set_err(err, errlen, "record %" PRIu64 ": no src_text (make the pairs with tokenize --pair --keep-text)",
              rec.index);
      goto fail;
    }
    if (worst) {
      if (noisy_worst_add(worst, &rec, err, errlen) != 0) goto fail;
      continue;
    }
    size_t idl, tl, bad;
    const char *id = rec_str(&rec, fid, &idl);
    const char *text = rec_str(&rec, fst, &tl);
    uint64_t key = o->key_by_index ? rec.index : perturb_key_of_id(id, idl);
    if (perturb_text(&o->po, key, text, tl, &buf, st, &bad) != 0) {
      set_err(err, errlen, "record %" PRIu64 ": invalid UTF-8 at byte %zu of the text", rec.index, bad + 1);
      goto fail;
    }
    wp_encode(nm->tok, buf.buf, buf.len, maxl, 0, &toks);
    for (int k = 0; k < 6; k++) {
      if (!rec_has(&rec, fin[k])) continue;
      size_t l;
      if (k < 4) {
        const char *x = rec_str(&rec, fin[k], &l);
        rec_put_str(w, fout[k], x, l);
      } else {
        rec_put(w, fout[k], rec.v[fin[k]].data, rec.v[fin[k]].shape);
      }
    }
    uint32_t shp[1] = {(uint32_t)toks.n};
    rec_put(w, osi, toks.ids, shp);
    rec_put_str(w, ost, buf.buf, buf.len);
    if (rec_write(w) != 0) {
      set_err(err, errlen, "%s", rec_writer_error(w));
      goto fail;
    }
  }
  if (rc < 0) {
    set_err(err, errlen, "%s", rec_error(r));
    goto fail;
  }
  if (worst && noisy_worst_flush(worst, err, errlen) != 0) goto fail;
  noisy_worst_free(worst);
  perturb_buf_free(&buf);
  wp_tokens_free(&toks);
  if (rec_writer_close(w) != 0) return set_err(err, errlen, "%s", rec_writer_error(NULL));
  return 0;
fail:
  perturb_buf_free(&buf);
  wp_tokens_free(&toks);
fail_early:
  noisy_worst_free(worst);
  rec_writer_abort(w);
  return -1;
}
