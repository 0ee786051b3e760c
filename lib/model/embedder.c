/* embedder.c: sequences to vectors as embed writes them (see embedder.h). */
#include "model/embedder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

int emb_dim(const bert_model *m, const emb_options *o) { return o->colbert ? m->linear_out : m->cfg.hidden; }

int emb_prepare(const bert_model *m, const emb_options *o, emb_item *it, char *err, size_t errlen) {
  const bert_config *c = &m->cfg;
  size_t n = it->n, d = (size_t)c->hidden, limit = (size_t)bert_max_tokens(c);
  it->use_embeds = it->embeds;
  if (n == 0) return set_err(err, errlen, "no tokens to embed");
  if (it->embeds && o->colbert) return set_err(err, errlen, "--colbert takes token ids, not input embeddings");
  if (!it->embeds)
    for (size_t t = 0; t < n; t++)
      if (it->ids[t] >= (uint32_t)c->vocab_size)
        return set_err(err, errlen, "token %zu: id %u >= vocab_size %d of the model", t, it->ids[t], c->vocab_size);
  size_t room = n + 1;
  if (o->colbert && room < (size_t)o->cb->query_len) room = (size_t)o->cb->query_len;
  it->out_ids = xmalloc(room * sizeof *it->out_ids);
  if (o->colbert) {
    it->len = colbert_ids(o->cb, o->colbert, it->ids, n, it->out_ids, &it->n_real);
    it->ids_changed = 1;
  } else {
    memcpy(it->out_ids, it->ids, n * sizeof *it->ids);
    it->len = it->n_real = n;
  }
  if (it->len > limit) {
    if (!o->truncate && !c->pos_offset)
      return set_err(err, errlen, "%zu tokens, more than max_position_embeddings %d (use --truncate)", it->len,
                     c->max_position);
    if (!o->truncate)
      return set_err(err, errlen, "%zu tokens, more than the model's %zu positions (max_position_embeddings %d from "
                     "position %d; use --truncate)", it->len, limit, c->max_position, c->pos_offset);
    it->out_ids[limit - 1] = it->out_ids[it->len - 1];
    if (it->embeds) {
      it->embeds_buf = xmalloc(xmul(limit * d, sizeof(float)));
      memcpy(it->embeds_buf, it->embeds, (limit - 1) * d * sizeof(float));
      memcpy(it->embeds_buf + (limit - 1) * d, it->embeds + (n - 1) * d, d * sizeof(float));
      it->use_embeds = it->embeds_buf;
    }
    it->len = it->n_real = limit;
    it->ids_changed = 1;
  }
  return 0;
}

static void unit(float *v, int d) {
  double s = 0;
  for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
  if (s > 0) {
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < d; i++) v[i] *= inv;
  }
}

/* Pooling and normalisation of a plain item's vectors. */
static void finish_plain(const bert_model *m, const emb_options *o, emb_item *it) {
  int d = m->cfg.hidden, n = (int)it->len;
  if (o->pool) it->vec = xmalloc((size_t)d * sizeof *it->vec);
  if (o->pool == EMB_POOL_CLS) {
    memcpy(it->vec, it->vecs, (size_t)d * sizeof(float));
  } else if (o->pool == EMB_POOL_MEAN) {
    double *acc = xcalloc((size_t)d, sizeof *acc);
    int cnt = 0;
    for (int pass = 0; pass < 2 && cnt == 0; pass++) /* pass 1: all tokens if all are special */
      for (int t = 0; t < n; t++) {
        uint32_t id = it->out_ids[t];
        if (pass == 0 && o->special && id < (uint32_t)m->cfg.vocab_size && o->special[id]) continue;
        for (int i = 0; i < d; i++) acc[i] += it->vecs[(size_t)t * d + i];
        cnt++;
      }
    for (int i = 0; i < d; i++) it->vec[i] = (float)(acc[i] / cnt);
    free(acc);
  }
  if (o->normalize) {
    for (int t = 0; t < n; t++) unit(it->vecs + (size_t)t * d, d);
    if (o->pool) unit(it->vec, d);
  }
  it->out_n = it->len;
}

int emb_run(bert_model *m, bert_acts *a, bert_packer *p, const emb_options *o, emb_item *items, int n, char *err,
            size_t errlen) {
  size_t d = (size_t)m->cfg.hidden;
  bert_seq *seqs = xmalloc((n ? (size_t)n : 1) * sizeof *seqs);
  float **hid = xmalloc((n ? (size_t)n : 1) * sizeof *hid);
  size_t *n_real = xmalloc((n ? (size_t)n : 1) * sizeof *n_real);
  for (int i = 0; i < n; i++) {
    emb_item *it = &items[i];
    seqs[i] = (bert_seq){.ids = it->out_ids, .embeds = it->use_embeds, .len = (int)it->len};
    hid[i] = xmalloc(xmul(it->len * d, sizeof(float)));
    n_real[i] = it->n_real;
  }
  int rc = o->colbert == COLBERT_QUERY
               ? colbert_encode_queries(m, o->cb, p, seqs, n_real, n, o->batch_tokens, hid, err, errlen)
               : bert_encode_seqs(m, a, p, seqs, n, o->batch_tokens, o->colbert ? -1 : o->nlayers, hid, err, errlen);
  for (int i = 0; i < n; i++) {
    emb_item *it = &items[i];
    if (rc == 0 && o->colbert) {
      it->vecs = xmalloc(xmul(it->len * (size_t)m->linear_out, sizeof(float)));
      it->out_n = colbert_finish(m, o->cb, o->colbert, it->out_ids, it->len, hid[i], it->vecs);
      free(hid[i]);
    } else if (rc == 0) {
      it->vecs = hid[i];
      finish_plain(m, o, it);
    } else {
      free(hid[i]);
    }
  }
  free(seqs);
  free(hid);
  free(n_real);
  return rc;
}

void emb_item_free(emb_item *it) {
  free(it->out_ids);
  free(it->embeds_buf);
  free(it->vecs);
  free(it->vec);
  memset(it, 0, sizeof *it);
}

unsigned char *emb_special_mask(const bert_model *m, const char *meta, char *err, size_t errlen) {
  size_t V = (size_t)m->cfg.vocab_size;
  unsigned char *sp = xcalloc(V, 1);
  if (meta) {
    const char *p = meta;
    while (*p) {
      char *end;
      unsigned long v = strtoul(p, &end, 10);
      if (end == p || (*end && *end != ',')) {
        free(sp);
        set_err(err, errlen, "metadata special_ids '%s' is not a comma-separated id list", meta);
        return NULL;
      }
      if (v < V) sp[v] = 1;
      p = *end ? end + 1 : end;
    }
    return sp;
  }
  if (!m->vocab) {
    free(sp);
    set_err(err, errlen, "mean pooling needs the special token ids: the stream has no special_ids metadata and the "
                         "model folder has no vocabulary file");
    return NULL;
  }
  if (strcmp(m->vocab_name, "vocab.txt") != 0) { /* XLM-R: <s> <pad> </s> */
    for (size_t i = 0; i < 3 && i < V; i++) sp[i] = 1;
    return sp;
  }
  static const char *const names[] = {"[CLS]", "[SEP]", "[PAD]"};
  for (int k = 0; k < 3; k++) {
    int64_t id = bert_vocab_id(m, names[k]);
    if (id >= 0 && (size_t)id < V) sp[id] = 1;
  }
  return sp;
}
