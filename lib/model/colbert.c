/* colbert.c: ColBERT's query and document encoders (see colbert.h). */
#include "model/colbert.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"

static int vocab_lookup(const bert_model *m, const char *piece, uint32_t *id, const char *dir, char *err,
                        size_t errlen) {
  int64_t v = bert_vocab_id(m, piece);
  if (v < 0 || v >= m->cfg.vocab_size)
    return set_err(err, errlen, "%s/vocab.txt: no piece '%s' (ColBERT needs it)", dir, piece);
  *id = (uint32_t)v;
  return 0;
}

/* artifact.metadata: the ColBERT settings the checkpoint was trained with */
static int read_metadata(colbert_config *c, const char *dir, char *qtok, char *dtok, size_t toklen, char *err,
                         size_t errlen) {
  char path[4200], e[300];
  snprintf(path, sizeof path, "%s/artifact.metadata", dir);
  size_t len;
  char *text = read_file(path, &len);
  if (!text) return errno == ENOENT ? 0 : set_err(err, errlen, "%s: %s", path, strerror(errno));
  json_doc *doc = json_parse(text, len, e, sizeof e); /* numbers point into text: free it last */
  if (!doc) {
    free(text);
    return set_err(err, errlen, "%s: not valid JSON: %s", path, e);
  }
  const json_value *r = json_root(doc), *v;
  int rc = -1;
  if (r->type != JSON_OBJECT) {
    set_err(err, errlen, "%s: not a JSON object", path);
    goto done;
  }
  static const char *const ints[] = {"query_maxlen", "doc_maxlen", "dim"};
  int *dst[] = {&c->query_len, &c->doc_len, &c->dim};
  for (int k = 0; k < 3; k++) {
    long long x;
    if (!(v = json_get(r, ints[k])) || v->type == JSON_NULL) continue;
    if (v->type != JSON_NUMBER || json_to_i64(v, &x) != 0 || x < (k == 0 ? 3 : 0) || x > 1 << 20) {
      set_err(err, errlen, "%s: \"%s\" must be an integer >= %d", path, ints[k], k == 0 ? 3 : 0);
      goto done;
    }
    *dst[k] = (int)x;
  }
  static const char *const bools[] = {"mask_punctuation", "attend_to_mask_tokens"};
  int *bdst[] = {&c->mask_punctuation, &c->attend_to_mask};
  for (int k = 0; k < 2; k++) {
    if (!(v = json_get(r, bools[k])) || v->type == JSON_NULL) continue;
    if (v->type != JSON_TRUE && v->type != JSON_FALSE) {
      set_err(err, errlen, "%s: \"%s\" must be true or false", path, bools[k]);
      goto done;
    }
    *bdst[k] = v->type == JSON_TRUE;
  }
  static const char *const toks[] = {"query_token_id", "doc_token_id"};
  char *tdst[] = {qtok, dtok};
  for (int k = 0; k < 2; k++)
    if ((v = json_get(r, toks[k])) && v->type == JSON_STRING) snprintf(tdst[k], toklen, "%s", v->text);
  if ((v = json_get(r, "similarity")) && v->type == JSON_STRING && strcmp(v->text, "cosine") != 0) {
    set_err(err, errlen, "%s: similarity \"%s\" is not supported (cosine)", path, v->text);
    goto done;
  }
  rc = 0;
done:
  json_free(doc);
  free(text);
  return rc;
}

int colbert_config_load(colbert_config *c, const bert_model *m, const char *dir, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  if (!m->linear_w)
    return set_err(err, errlen, "%s: no ColBERT projection ('linear.weight' in model.safetensors)", dir);
  if (!m->vocab || strcmp(m->vocab_name, "vocab.txt") != 0)
    return set_err(err, errlen, "%s: ColBERT needs the WordPiece vocabulary vocab.txt", dir);
  c->query_len = 32;
  c->mask_punctuation = 1;
  c->dim = m->linear_out;
  char qtok[64] = "[unused0]", dtok[64] = "[unused1]";
  if (read_metadata(c, dir, qtok, dtok, sizeof qtok, err, errlen) != 0) return -1;
  if (c->dim != m->linear_out)
    return set_err(err, errlen, "%s: artifact.metadata says dim %d, linear.weight has %d rows", dir, c->dim,
                   m->linear_out);
  if (c->doc_len && c->doc_len < 3) c->doc_len = 3;
  int limit = bert_max_tokens(&m->cfg);
  if (c->query_len > limit) return set_err(err, errlen, "%s: query length %d > the model's %d positions", dir, c->query_len, limit);
  if (c->doc_len > limit) c->doc_len = limit;
  if (vocab_lookup(m, qtok, &c->q_marker, dir, err, errlen) || vocab_lookup(m, dtok, &c->d_marker, dir, err, errlen) ||
      vocab_lookup(m, "[MASK]", &c->mask_id, dir, err, errlen))
    return -1;
  c->skip = xcalloc((size_t)m->cfg.vocab_size, 1);
  if (c->mask_punctuation) {
    static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"; /* Python's string.punctuation */
    int64_t unk = bert_vocab_id(m, "[UNK]");
    for (const char *p = punct; *p; p++) {
      char s[2] = {*p, 0};
      int64_t id = bert_vocab_id(m, s);
      if (id < 0) id = unk; /* what encode(symbol)[0] gives for a piece the vocabulary lacks */
      if (id >= 0 && id < m->cfg.vocab_size) c->skip[id] = 1;
    }
  }
  return 0;
}

void colbert_config_free(colbert_config *c) {
  free(c->skip);
  c->skip = NULL;
}

size_t colbert_ids(const colbert_config *c, int mode, const uint32_t *ids, size_t n, uint32_t *out, size_t *n_real) {
  size_t limit = mode == COLBERT_QUERY ? (size_t)c->query_len : c->doc_len ? (size_t)c->doc_len : n + 1;
  size_t pieces = n >= 2 ? n - 2 : 0;
  if (pieces > limit - 3) pieces = limit - 3;
  size_t k = 0;
  out[k++] = n ? ids[0] : 0;
  out[k++] = mode == COLBERT_QUERY ? c->q_marker : c->d_marker;
  memcpy(out + k, ids + 1, pieces * sizeof *ids);
  k += pieces;
  if (n >= 2) out[k++] = ids[n - 1];
  *n_real = k;
  if (mode == COLBERT_QUERY)
    while (k < limit) out[k++] = c->mask_id;
  return k;
}

/* ---- queries: [MASK] positions attend to the real tokens only ---- */

/* One encoder layer (bert.h's post-LN layer) for tokens that attend to the
 * real tokens of their query but are attended to by none: x [M][d] in
 * place. Real hidden states of the same layer: xr [N][d]; query b's real
 * tokens are xr rows rstart[b].., its M tokens x rows mstart[b].. */
static void mask_layer(const bert_model *m, int l, float *x, int M, const float *xr, int N, int B,
                       const int *rstart, const int *rlen, const int *mstart, const int *mlen, float *buf) {
  const bert_config *c = &m->cfg;
  const bert_layer_view *W = &m->p.layer[l];
  int d = c->hidden, I = c->intermediate, H = c->heads, dh = d / H;
  float *qkv_r = buf, *qkv_m = qkv_r + (size_t)N * 3 * d, *ctx = qkv_m + (size_t)M * 3 * d;
  float *res = ctx + (size_t)M * d, *a = res + (size_t)M * d, *mean = a + (size_t)M * d, *rstd = mean + M;
  float *f = rstd + M, *g = f + (size_t)M * I, *scores = g + (size_t)M * I;
  bert_linear_forward(qkv_r, xr, W->qkv_w, W->qkv_b, N, d, 3 * d);
  bert_linear_forward(qkv_m, x, W->qkv_w, W->qkv_b, M, d, 3 * d);
  float scale = 1.0f / sqrtf((float)dh);
  for (int b = 0; b < B; b++)
    for (int i = mstart[b]; i < mstart[b] + mlen[b]; i++)
      for (int h = 0; h < H; h++) {
        const float *q = qkv_m + (size_t)i * 3 * d + h * dh;
        float mx = -INFINITY;
        for (int j = 0; j < rlen[b]; j++) {
          const float *k = qkv_r + (size_t)(rstart[b] + j) * 3 * d + d + h * dh;
          float s = 0;
          for (int t = 0; t < dh; t++) s += q[t] * k[t];
          scores[j] = s * scale;
          if (scores[j] > mx) mx = scores[j];
        }
        float sum = 0;
        for (int j = 0; j < rlen[b]; j++) sum += scores[j] = expf(scores[j] - mx);
        float *o = ctx + (size_t)i * d + h * dh;
        for (int t = 0; t < dh; t++) o[t] = 0;
        for (int j = 0; j < rlen[b]; j++) {
          const float *v = qkv_r + (size_t)(rstart[b] + j) * 3 * d + 2 * d + h * dh;
          float p = scores[j] / sum;
          for (int t = 0; t < dh; t++) o[t] += p * v[t];
        }
      }
  bert_linear_forward(res, ctx, W->ao_w, W->ao_b, M, d, d);
  bert_residual_forward(res, res, x, (size_t)M * d);
  bert_layernorm_forward(a, mean, rstd, res, W->ln1_w, W->ln1_b, M, d, c->ln_eps);
  bert_linear_forward(f, a, W->fc_w, W->fc_b, M, d, I);
  bert_gelu_forward(g, f, (size_t)M * I);
  bert_linear_forward(res, g, W->proj_w, W->proj_b, M, I, d);
  bert_residual_forward(res, res, a, (size_t)M * d);
  bert_layernorm_forward(x, mean, rstd, res, W->ln2_w, W->ln2_b, M, d, c->ln_eps);
}

int colbert_encode_queries(bert_model *m, const colbert_config *c, bert_packer *p, const bert_seq *seqs,
                           const size_t *n_real, int n, size_t budget, float *const *out, char *err, size_t errlen) {
  if (c->attend_to_mask) {
    bert_acts *a = bert_acts_new(m, 0);
    int rc = bert_encode_seqs(m, a, p, seqs, n, budget, -1, out, err, errlen);
    bert_acts_free(a);
    return rc;
  }
  const bert_config *cf = &m->cfg;
  int d = cf->hidden, I = cf->intermediate, L = cf->layers;
  /* training-mode activations keep every layer: bound them to ~256 MB */
  size_t per_token = ((size_t)16 * d + 2 * (size_t)I + 8 + (size_t)cf->heads * c->query_len) * sizeof(float);
  size_t cap = ((size_t)256 << 20) / (per_token * (L ? (size_t)L : 1));
  if (budget > cap) budget = cap;
  if (budget < (size_t)c->query_len) budget = (size_t)c->query_len;
  /* the real part of each query */
  bert_seq *real = xmalloc((n ? (size_t)n : 1) * sizeof *real);
  int *len = xmalloc((n ? (size_t)n : 1) * sizeof *len);
  for (int i = 0; i < n; i++) {
    real[i] = seqs[i];
    real[i].len = (int)n_real[i];
    len[i] = real[i].len;
  }
  int nb = batch_plan(p, len, n, budget, 1), rc = 0;
  bert_acts *a = bert_acts_new(m, 1);
  int *rstart = xmalloc(((size_t)n + 1) * sizeof *rstart), *rlen = xmalloc(((size_t)n + 1) * sizeof *rlen);
  int *mstart = xmalloc(((size_t)n + 1) * sizeof *mstart), *mlen = xmalloc(((size_t)n + 1) * sizeof *mlen);
  float *x = NULL, *buf = NULL;
  size_t cap_x = 0, cap_buf = 0;
  for (int k = 0; k < nb && rc == 0; k++) {
    bert_input in;
    batch_pack(p, real, k, &in);
    char e[400];
    if (bert_forward(m, a, &in, -1, e, sizeof e) != 0) {
      rc = batch_error(p, k, in.B, e, err, errlen);
      break;
    }
    int M = 0, N = bert_ntokens(a);
    for (int j = 0; j < in.B; j++) {
      int i = batch_seq(p, k, j);
      rstart[j] = bert_seq_start(a, j), rlen[j] = in.len[j];
      mstart[j] = M, mlen[j] = seqs[i].len - in.len[j];
      M += mlen[j];
    }
    const float *top = bert_output(a);
    if (M > 0) {
      if ((size_t)M * d > cap_x) x = xrealloc(x, (cap_x = (size_t)M * d) * sizeof *x);
      size_t need = (size_t)N * 3 * d + (size_t)M * (3 * d + 3 * d + 2 + 2 * I) + (size_t)c->query_len;
      if (need > cap_buf) buf = xrealloc(buf, (cap_buf = need) * sizeof *buf);
      /* embeddings of the [MASK] positions: word + position + token type 0, LayerNorm */
      float *sum = buf + 2 * (size_t)M;
      for (int j = 0; j < in.B; j++)
        for (int t = 0; t < mlen[j]; t++) {
          float *r = sum + (size_t)(mstart[j] + t) * d;
          const float *w = m->p.word_emb + (size_t)c->mask_id * d;
          const float *ps = m->p.pos_emb + (size_t)(cf->pos_offset + rlen[j] + t) * d;
          for (int q = 0; q < d; q++) r[q] = w[q] + ps[q] + m->p.type_emb[q];
        }
      bert_layernorm_forward(x, buf, buf + M, sum, m->p.emb_ln_w, m->p.emb_ln_b, M, d, cf->ln_eps);
      for (int l = 0; l < L; l++)
        mask_layer(m, l, x, M, bert_hidden_state(a, l), N, in.B, rstart, rlen, mstart, mlen, buf);
    }
    for (int j = 0; j < in.B; j++) {
      int i = batch_seq(p, k, j);
      memcpy(out[i], top + (size_t)rstart[j] * d, (size_t)rlen[j] * d * sizeof(float));
      memcpy(out[i] + (size_t)rlen[j] * d, x + (size_t)mstart[j] * d, (size_t)mlen[j] * d * sizeof(float));
    }
  }
  bert_acts_free(a);
  free(x);
  free(buf);
  free(real);
  free(len);
  free(rstart);
  free(rlen);
  free(mstart);
  free(mlen);
  return rc;
}

size_t colbert_finish(const bert_model *m, const colbert_config *c, int mode, uint32_t *ids, size_t n,
                      const float *hidden, float *vecs) {
  int d = m->cfg.hidden, D = m->linear_out;
  bert_linear_forward(vecs, hidden, m->linear_w, m->linear_b, (int)n, d, D);
  size_t k = 0;
  for (size_t t = 0; t < n; t++) {
    if (mode == COLBERT_DOC && ids[t] < (uint32_t)m->cfg.vocab_size && c->skip[ids[t]]) continue;
    float *v = vecs + k * D;
    if (k != t) memmove(v, vecs + t * D, (size_t)D * sizeof *v);
    ids[k] = ids[t];
    double s = 0;
    for (int q = 0; q < D; q++) s += (double)v[q] * v[q];
    float norm = (float)sqrt(s), inv = 1.0f / (norm > 1e-12f ? norm : 1e-12f);
    for (int q = 0; q < D; q++) v[q] *= inv;
    k++;
  }
  return k;
}
