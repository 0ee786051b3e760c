/* bert.c: the BERT encoder of bert.h: config, parameter block and its
 * index, load/save of Hugging Face folders, forward and backward passes. */
#include "model/bert.h"

#include <cblas.h>
#undef I /* <complex.h> via OpenBLAS: we use I for the intermediate size */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/pool.h"
#include "kernels/bf16.h"
#include "kernels/blas.h"
#include "kernels/vec.h"
#include "base/rng.h"
#include "model/safetensors.h"
#include "base/util.h"

/* ------------------------------------------------------------ kernels */

#define KF32 1 /* float: the model */
#include "model/bert_kernels.h"
#define KF32 0 /* double: the finite-difference reference */
#include "model/bert_kernels.h"

size_t bert_probs_size(int B, const int *len, int H) {
  size_t s = 0;
  for (int b = 0; b < B; b++) s += (size_t)H * len[b] * len[b];
  return s;
}

double bert_forward_flops(const bert_config *c, int B, const int *len) {
  double d = c->hidden, I = c->intermediate, f = 0;
  for (int b = 0; b < B; b++) {
    double T = len[b];
    f += c->layers * (2.0 * T * (4 * d * d + 2 * d * I) + 4.0 * T * T * d);
  }
  return f;
}

/* ------------------------------------------------------- parallel loops */

/* Every loop below runs on the pool (base/pool.h) in contiguous chunks of
 * rows, columns or elements, and each item is computed the same way
 * whatever the split, so results do not depend on the thread count. */

typedef struct {
  float *out, *pre, *mean, *rstd, *x, *dw, *db;
  const float *inp, *bias, *res, *w, *b, *dout;
  const float *cmean, *crstd;
  size_t C, N;
  double eps;
  int acc;
} ew_ctx;

static void ln_rows(void *p, size_t b, size_t e) {
  ew_ctx *c = p;
  kern_layernorm(c->out + b * c->C, c->mean + b, c->rstd + b, c->x + b * c->C, c->bias,
                 c->res ? c->res + b * c->C : NULL, c->w, c->b, e - b, c->C, c->eps);
}

/* y = LayerNorm(x + bias + res) over rows; x is updated to the sum when
 * bias or res is given (the residual connection, fused). */
static void layernorm_mt(float *y, float *mean, float *rstd, float *x, const float *bias, const float *res,
                         const float *w, const float *b, int N, int C, double eps) {
  ew_ctx c = {.out = y, .mean = mean, .rstd = rstd, .x = x, .bias = bias, .res = res, .w = w, .b = b,
              .C = (size_t)C, .eps = eps};
  pool_for((size_t)N, 16, 0, ln_rows, &c);
}

static void ln_back_rows(void *p, size_t b, size_t e) {
  ew_ctx *c = p;
  kern_layernorm_backward(c->out + b * c->C, c->dout + b * c->C, c->inp + b * c->C, c->w, c->cmean + b,
                          c->crstd + b, e - b, c->C, c->acc);
}

static void ln_back_cols(void *p, size_t b, size_t e) {
  ew_ctx *c = p;
  kern_layernorm_param_grads(c->dw, c->db, c->dout, c->inp, c->cmean, c->crstd, c->N, c->C, b, e);
}

/* dx (+)= LayerNorm backward (rows split), dw/db += parameter gradients
 * (columns split; either NULL to skip). */
static void layernorm_backward_mt(float *dx, float *dw, float *db, const float *dout, const float *x,
                                  const float *w, const float *mean, const float *rstd, int N, int C, int acc) {
  ew_ctx c = {.out = dx, .dw = dw, .db = db, .dout = dout, .inp = x, .w = w, .cmean = mean, .crstd = rstd,
              .C = (size_t)C, .acc = acc, .N = (size_t)N};
  pool_for((size_t)N, 16, 0, ln_back_rows, &c);
  if (dw || db) pool_for((size_t)C, 64, 0, ln_back_cols, &c);
}

static void gelu_rows(void *p, size_t b, size_t e) {
  ew_ctx *c = p;
  kern_bias_gelu(c->out + b * c->C, c->pre ? c->pre + b * c->C : NULL, c->inp + b * c->C, c->bias, e - b, c->C);
}

/* out = GELU(x + bias) over rows of C; pre (NULL: not kept) = x + bias. */
static void bias_gelu_mt(float *out, float *pre, const float *x, const float *bias, int N, int C) {
  ew_ctx c = {.out = out, .pre = pre, .inp = x, .bias = bias, .C = (size_t)C};
  pool_for((size_t)N, 8, 0, gelu_rows, &c);
}

static void gelu_back_range(void *p, size_t b, size_t e) {
  ew_ctx *c = p;
  kern_gelu_backward(c->out + b, c->inp + b, c->dout + b, e - b, c->acc);
}

static void gelu_backward_mt(float *dinp, const float *inp, const float *dout, size_t n, int acc) {
  ew_ctx c = {.out = dinp, .inp = inp, .dout = dout, .acc = acc};
  pool_for(n, 16384, 0, gelu_back_range, &c);
}

static void colsum_cols(void *p, size_t b, size_t e) {
  ew_ctx *c = p;
  kern_colsum(c->db, c->dout, c->N, c->C, b, e);
}

/* A dense layer's backward: dinp = (beta 0) or += (beta 1) dout W; dw += dout^T inp; db += column sums. */
static void linear_backward_mt(float *dinp, int beta, float *dw, float *db, const float *dout, const float *inp,
                               const float *w, int N, int C, int OC) {
  if (N == 0) return;
  if (dinp) kern_sgemm(0, 0, N, C, OC, 1, dout, OC, w, C, (float)beta, dinp, C);
  if (dw) kern_sgemm(1, 0, OC, C, N, 1, dout, OC, inp, C, 1, dw, C);
  if (db) {
    ew_ctx c = {.db = db, .dout = dout, .C = (size_t)OC, .N = (size_t)N};
    pool_for((size_t)OC, 64, 0, colsum_cols, &c);
  }
}

/* Attention, one (sequence, head) per pool item; OpenBLAS serial inside. */
typedef struct {
  float *out, *probs, *dqkv, *dprobs;
  const float *qkv, *dout, *cprobs;
  const int *len, *start;
  const size_t *poff;
  int H, d;
} att_ctx;

static void att_fwd_item(void *p, size_t i, int worker) {
  att_ctx *c = p;
  int b = (int)(i / (size_t)c->H), h = (int)(i % (size_t)c->H), T = c->len[b], d = c->d;
  size_t row = (size_t)c->start[b];
  attention_head_forward(c->out + row * d, c->probs + c->poff[b] + (size_t)h * T * T, c->qkv + row * 3 * d, T, d,
                         d / c->H, h);
}

static void att_bwd_item(void *p, size_t i, int worker) {
  att_ctx *c = p;
  int b = (int)(i / (size_t)c->H), h = (int)(i % (size_t)c->H), T = c->len[b], d = c->d;
  size_t row = (size_t)c->start[b], o = c->poff[b] + (size_t)h * T * T;
  attention_head_backward(c->dqkv + row * 3 * d, c->dprobs + o, c->dout + row * d, c->qkv + row * 3 * d,
                          c->cprobs + o, T, d, d / c->H, h);
}

static void attention_mt(att_ctx *c, int B, void (*item)(void *, size_t, int)) {
  if (otc_threads() <= 1) {
    for (size_t i = 0; i < (size_t)B * c->H; i++) item(c, i, 0);
    return;
  }
  int saved = kern_blas_serial_begin();
  pool_each((size_t)B * c->H, 0, item, c);
  kern_blas_serial_end(saved);
}

struct bert_lowp {
  kern_bf16_mat **w; /* [layers][4]: qkv, attention output, intermediate, output */
  int n;
};

static void lowp_free(struct bert_lowp *lp) {
  if (!lp) return;
  for (int i = 0; i < lp->n; i++) kern_bf16_free(lp->w[i]);
  free(lp->w);
  free(lp);
}

static void memset_range(void *p, size_t b, size_t e) { memset((float *)p + b, 0, (e - b) * sizeof(float)); }
static void zero_mt(float *p, size_t n) { pool_for(n, 1 << 16, 0, memset_range, p); }

/* --------------------------------------------------------------- layout */

/* Tensors start on 64-byte boundaries so rows are vector-aligned. */
#define ALIGN_FLOATS 16

static void add_tensor(bert_model *m, int *cap, const char *name, int rank, int s0, int s1, int decay,
                       int group) {
  if (m->ntensors == *cap) {
    *cap = *cap ? 2 * *cap : 64;
    m->tensors = xrealloc(m->tensors, (size_t)*cap * sizeof *m->tensors);
  }
  bert_tensor *t = &m->tensors[m->ntensors++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rank = rank;
  t->shape[0] = s0;
  t->shape[1] = rank == 2 ? s1 : 1;
  t->size = (size_t)s0 * (rank == 2 ? (size_t)s1 : 1);
  t->decay = decay;
  t->group = group;
  t->offset = m->nparams;
  m->nparams += (t->size + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* Consecutive tensors (query, key, value) packed without padding, so that
 * the three weights form one [3d][d] matrix for a single sgemm. */
static void add_packed(bert_model *m, int *cap, const char *const *names, int n, int rank, int s0, int s1,
                       int decay, int group) {
  size_t start = m->nparams, each = (size_t)s0 * (rank == 2 ? (size_t)s1 : 1);
  for (int i = 0; i < n; i++) {
    add_tensor(m, cap, names[i], rank, s0, s1, decay, group);
    m->tensors[m->ntensors - 1].offset = start + i * each;
    m->nparams = start + (i + 1) * each;
  }
  m->nparams = (m->nparams + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

static void build_index(bert_model *m) {
  const bert_config *c = &m->cfg;
  int cap = 0, d = c->hidden, I = c->intermediate;
  add_tensor(m, &cap, "embeddings.word_embeddings.weight", 2, c->vocab_size, d, 1, -1);
  add_tensor(m, &cap, "embeddings.position_embeddings.weight", 2, c->max_position, d, 1, -1);
  add_tensor(m, &cap, "embeddings.token_type_embeddings.weight", 2, c->type_vocab, d, 1, -1);
  add_tensor(m, &cap, "embeddings.LayerNorm.weight", 1, d, 0, 0, -1);
  add_tensor(m, &cap, "embeddings.LayerNorm.bias", 1, d, 0, 0, -1);
  for (int l = 0; l < c->layers; l++) {
    char n[3][96];
    const char *p[3] = {n[0], n[1], n[2]};
    const char *qkv[3] = {"query", "key", "value"};
    for (int i = 0; i < 3; i++) snprintf(n[i], 96, "encoder.layer.%d.attention.self.%s.weight", l, qkv[i]);
    add_packed(m, &cap, p, 3, 2, d, d, 1, l);
    for (int i = 0; i < 3; i++) snprintf(n[i], 96, "encoder.layer.%d.attention.self.%s.bias", l, qkv[i]);
    add_packed(m, &cap, p, 3, 1, d, 0, 0, l);
    char nm[96];
#define T_(suffix, rank, s0, s1, decay)                         \
  snprintf(nm, sizeof nm, "encoder.layer.%d.%s", l, suffix); \
  add_tensor(m, &cap, nm, rank, s0, s1, decay, l)
    T_("attention.output.dense.weight", 2, d, d, 1);
    T_("attention.output.dense.bias", 1, d, 0, 0);
    T_("attention.output.LayerNorm.weight", 1, d, 0, 0);
    T_("attention.output.LayerNorm.bias", 1, d, 0, 0);
    T_("intermediate.dense.weight", 2, I, d, 1);
    T_("intermediate.dense.bias", 1, I, 0, 0);
    T_("output.dense.weight", 2, d, I, 1);
    T_("output.dense.bias", 1, d, 0, 0);
    T_("output.LayerNorm.weight", 1, d, 0, 0);
    T_("output.LayerNorm.bias", 1, d, 0, 0);
#undef T_
  }
  if (c->has_pooler) {
    add_tensor(m, &cap, "pooler.dense.weight", 2, d, d, 1, c->layers);
    add_tensor(m, &cap, "pooler.dense.bias", 1, d, 0, 0, c->layers);
  }
}

void bert_make_view(const bert_model *m, float *block, bert_view *v) {
  const bert_tensor *t = m->tensors;
  memset(v, 0, sizeof *v);
  v->word_emb = block + t[0].offset;
  v->pos_emb = block + t[1].offset;
  v->type_emb = block + t[2].offset;
  v->emb_ln_w = block + t[3].offset;
  v->emb_ln_b = block + t[4].offset;
  v->layer = xcalloc(m->cfg.layers ? m->cfg.layers : 1, sizeof *v->layer);
  for (int l = 0; l < m->cfg.layers; l++) {
    const bert_tensor *u = t + 5 + 16 * l;
    bert_layer_view *L = &v->layer[l];
    L->qkv_w = block + u[0].offset;
    L->qkv_b = block + u[3].offset;
    L->ao_w = block + u[6].offset;
    L->ao_b = block + u[7].offset;
    L->ln1_w = block + u[8].offset;
    L->ln1_b = block + u[9].offset;
    L->fc_w = block + u[10].offset;
    L->fc_b = block + u[11].offset;
    L->proj_w = block + u[12].offset;
    L->proj_b = block + u[13].offset;
    L->ln2_w = block + u[14].offset;
    L->ln2_b = block + u[15].offset;
  }
  if (m->cfg.has_pooler) {
    const bert_tensor *u = t + 5 + 16 * m->cfg.layers;
    v->pool_w = block + u[0].offset;
    v->pool_b = block + u[1].offset;
  }
}

void bert_view_free(bert_view *v) {
  free(v->layer);
  v->layer = NULL;
}

bert_model *bert_new(const bert_config *c) {
  bert_model *m = xcalloc(1, sizeof *m);
  m->cfg = *c;
  build_index(m);
  m->params = xcalloc(m->nparams ? m->nparams : 1, sizeof(float));
  bert_make_view(m, m->params, &m->p);
  m->trainable = xmalloc((size_t)m->ntensors);
  memset(m->trainable, 1, (size_t)m->ntensors);
  return m;
}

void bert_free(bert_model *m) {
  if (!m) return;
  bert_view_free(&m->p);
  bert_view_free(&m->g);
  free(m->params);
  free(m->grads);
  free(m->tensors);
  free(m->vocab);
  free(m->linear_w);
  free(m->linear_b);
  free(m->trainable);
  lowp_free(m->lowp);
  free(m);
}

const bert_tensor *bert_find_tensor(const bert_model *m, const char *name) {
  for (int i = 0; i < m->ntensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
  return NULL;
}

/* ----------------------------------------------------------- activations */

typedef struct {
  float *qkv, *probs, *ctx, *att_res, *ln1_mean, *ln1_rstd, *ln1_out;
  float *fc, *gelu, *ffn_res, *ln2_mean, *ln2_rstd, *ln2_out;
} layer_acts;

struct bert_acts {
  int train, L, d, I, H;
  /* batch of the last forward */
  int B, N, nlayers_run;
  int *len, *start;
  uint32_t *ids, *type_ids;
  unsigned char *given; /* [B]: sequence came as embeds (no word-embedding gradient) */
  int has_type_ids;
  size_t cap_tokens, cap_probs, cap_B;
  float *emb_sum, *emb_mean, *emb_rstd, *x0;
  layer_acts *layer; /* [L] in train mode, [1] (shared) otherwise */
  float *block;      /* one allocation for all the float buffers above */
  size_t *poff;      /* [B]: offset of sequence b's attention probabilities */
  /* backward scratch */
  float *scratch;
  size_t cap_scratch_tokens, cap_scratch_probs;
  void *lp_scratch;  /* bf16 products: rounded inputs */
  size_t cap_lp;
};

bert_acts *bert_acts_new(const bert_model *m, int train) {
  bert_acts *a = xcalloc(1, sizeof *a);
  a->train = train;
  a->L = m->cfg.layers;
  a->d = m->cfg.hidden;
  a->I = m->cfg.intermediate;
  a->H = m->cfg.heads;
  a->layer = xcalloc(a->L ? (size_t)a->L : 1, sizeof *a->layer);
  return a;
}

void bert_acts_free(bert_acts *a) {
  if (!a) return;
  free(a->len);
  free(a->start);
  free(a->ids);
  free(a->type_ids);
  free(a->given);
  free(a->layer);
  free(a->block);
  free(a->scratch);
  free(a->poff);
  free(a->lp_scratch);
  free(a);
}

static void acts_reserve(bert_acts *a, size_t N, size_t P) {
  if (N <= a->cap_tokens && P <= a->cap_probs) return;
  if (N < a->cap_tokens) N = a->cap_tokens;
  if (P < a->cap_probs) P = a->cap_probs;
  size_t d = (size_t)a->d, I = (size_t)a->I;
  int nsets = a->train ? a->L : (a->L ? 1 : 0);
  size_t per_layer = N * (3 * d + d + d + d + I + I + d + d) + 4 * N + P;
  size_t total = N * (2 * d) + 2 * N + (size_t)nsets * per_layer;
  free(a->block);
  a->block = xmalloc(xmul(total ? total : 1, sizeof(float)));
  float *p = a->block;
#define TAKE(n) (p += (n), p - (n))
  a->emb_sum = TAKE(N * d);
  a->emb_mean = TAKE(N);
  a->emb_rstd = TAKE(N);
  a->x0 = TAKE(N * d);
  for (int s = 0; s < nsets; s++) {
    layer_acts *l = &a->layer[s];
    l->qkv = TAKE(N * 3 * d);
    l->probs = TAKE(P);
    l->ctx = TAKE(N * d);
    l->att_res = TAKE(N * d);
    l->ln1_mean = TAKE(N);
    l->ln1_rstd = TAKE(N);
    l->ln1_out = TAKE(N * d);
    l->fc = TAKE(N * I);
    l->gelu = TAKE(N * I);
    l->ffn_res = TAKE(N * d);
    l->ln2_mean = TAKE(N);
    l->ln2_rstd = TAKE(N);
    l->ln2_out = TAKE(N * d);
  }
#undef TAKE
  if (!a->train)
    for (int s = 1; s < a->L; s++) a->layer[s] = a->layer[0];
  a->cap_tokens = N;
  a->cap_probs = P;
}

const float *bert_output(const bert_acts *a) {
  if (a->nlayers_run == 0) return a->x0;
  return a->layer[a->train ? a->nlayers_run - 1 : 0].ln2_out;
}
const float *bert_hidden_state(const bert_acts *a, int l) {
  if (l < 0 || l > a->nlayers_run) return NULL;
  if (l == 0) return a->x0;
  if (a->train) return a->layer[l - 1].ln2_out;
  return l == a->nlayers_run ? a->layer[0].ln2_out : NULL;
}
int bert_ntokens(const bert_acts *a) { return a->N; }
int bert_seq_start(const bert_acts *a, int b) { return a->start[b]; }

int bert_forward(bert_model *m, bert_acts *a, const bert_input *in, int nlayers, char *err, size_t errlen) {
  const bert_config *c = &m->cfg;
  int B = in->B, d = c->hidden, I = c->intermediate, H = c->heads;
  if (nlayers < 0 || nlayers > c->layers) nlayers = c->layers;
  if ((size_t)B > a->cap_B) {
    a->cap_B = (size_t)B;
    a->len = xrealloc(a->len, (size_t)B * sizeof *a->len);
    a->start = xrealloc(a->start, (size_t)B * sizeof *a->start);
    a->given = xrealloc(a->given, (size_t)B);
    a->poff = xrealloc(a->poff, (size_t)B * sizeof *a->poff);
  }
  if (m->lowp && a->train)
    return set_err(err, errlen, "a bfloat16 model (bert_set_dtype) runs inference only, not training");
  size_t N = 0, P = 0;
  for (int b = 0; b < B; b++) {
    if (in->len[b] < 1 || in->len[b] > bert_max_tokens(c))
      return set_err(err, errlen, "sequence %d: length %d outside 1..%d (max_position_embeddings%s)", b, in->len[b],
                    bert_max_tokens(c), c->pos_offset ? " - position offset" : "");
    a->len[b] = in->len[b];
    a->start[b] = (int)N;
    a->poff[b] = P;
    P += (size_t)H * in->len[b] * in->len[b];
    a->given[b] = in->embeds && in->embeds[b];
    for (int t = 0; t < in->len[b]; t++) {
      size_t row = N + t;
      if (!a->given[b] && in->ids[row] >= (uint32_t)c->vocab_size)
        return set_err(err, errlen, "sequence %d, token %d: id %u >= vocab_size %d", b, t, in->ids[row],
                      c->vocab_size);
      if (in->type_ids && in->type_ids[row] >= (uint32_t)c->type_vocab)
        return set_err(err, errlen, "sequence %d, token %d: token type %u >= type_vocab_size %d", b, t,
                      in->type_ids[row], c->type_vocab);
    }
    N += in->len[b];
    if (N > (size_t)1 << 30) return set_err(err, errlen, "batch too large (%zu tokens)", N);
  }
  a->B = B;
  a->N = (int)N;
  a->nlayers_run = nlayers;
  acts_reserve(a, N, bert_probs_size(B, in->len, H));
  /* keep ids and type ids for the backward pass (word-embedding gradient) */
  a->ids = xrealloc(a->ids, (N ? N : 1) * sizeof *a->ids);
  for (size_t i = 0; i < N; i++) a->ids[i] = 0;
  {
    size_t row = 0;
    for (int b = 0; b < B; b++) {
      if (!a->given[b]) memcpy(a->ids + row, in->ids + row, (size_t)a->len[b] * sizeof *a->ids);
      row += a->len[b];
    }
  }
  a->has_type_ids = in->type_ids != NULL;
  if (in->type_ids) {
    a->type_ids = xrealloc(a->type_ids, (N ? N : 1) * sizeof *a->type_ids);
    memcpy(a->type_ids, in->type_ids, N * sizeof *a->type_ids);
  }

  bert_embeddings_forward(a->emb_sum, B, a->len, a->ids, in->embeds, in->delta, in->type_ids, m->p.word_emb,
                          m->p.pos_emb + (size_t)c->pos_offset * d, m->p.type_emb, d);
  layernorm_mt(a->x0, a->emb_mean, a->emb_rstd, a->emb_sum, NULL, NULL, m->p.emb_ln_w, m->p.emb_ln_b, (int)N, d,
               c->ln_eps);
  if (m->lowp) {
    size_t need = 0;
    for (int k = 0; k < 4 && nlayers > 0; k++) {
      size_t s = kern_bf16_scratch_bytes(m->lowp->w[k], (int)N);
      if (s > need) need = s;
    }
    if (need > a->cap_lp) {
      free(a->lp_scratch);
      a->lp_scratch = xmalloc(need);
      a->cap_lp = need;
    }
  }
  att_ctx att = {.len = a->len, .start = a->start, .poff = a->poff, .H = H, .d = d};
  float *x = a->x0;
  for (int l = 0; l < nlayers; l++) {
    layer_acts *A = &a->layer[a->train ? l : 0];
    const bert_layer_view *W = &m->p.layer[l];
    kern_bf16_mat *const *lw = m->lowp ? m->lowp->w + 4 * l : NULL;
    int n = (int)N;
    /* dense layers: bias of ao and proj fused into the LayerNorm that follows, of fc into GELU */
    if (lw)
      kern_bf16_gemm(A->qkv, x, lw[0], W->qkv_b, n, a->lp_scratch);
    else
      bert_linear_forward(A->qkv, x, W->qkv_w, W->qkv_b, n, d, 3 * d);
    att.out = A->ctx, att.probs = A->probs, att.qkv = A->qkv;
    attention_mt(&att, B, att_fwd_item);
    if (lw)
      kern_bf16_gemm(A->att_res, A->ctx, lw[1], NULL, n, a->lp_scratch);
    else
      bert_linear_forward(A->att_res, A->ctx, W->ao_w, NULL, n, d, d);
    layernorm_mt(A->ln1_out, A->ln1_mean, A->ln1_rstd, A->att_res, W->ao_b, x, W->ln1_w, W->ln1_b, n, d, c->ln_eps);
    if (lw)
      kern_bf16_gemm(A->fc, A->ln1_out, lw[2], NULL, n, a->lp_scratch);
    else
      bert_linear_forward(A->fc, A->ln1_out, W->fc_w, NULL, n, d, I);
    bias_gelu_mt(A->gelu, a->train ? A->fc : NULL, A->fc, W->fc_b, n, I);
    if (lw)
      kern_bf16_gemm(A->ffn_res, A->gelu, lw[3], NULL, n, a->lp_scratch);
    else
      bert_linear_forward(A->ffn_res, A->gelu, W->proj_w, NULL, n, I, d);
    /* In inference mode ln2_out is also this layer's input x: x is no
     * longer read once ffn_res exists. */
    layernorm_mt(A->ln2_out, A->ln2_mean, A->ln2_rstd, A->ffn_res, W->proj_b, A->ln1_out, W->ln2_w, W->ln2_b, n, d,
                 c->ln_eps);
    x = A->ln2_out;
  }
  return 0;
}

/* ------------------------------------------------------------ bfloat16 */

void bert_set_dtype(bert_model *m, int dtype) {
  lowp_free(m->lowp);
  m->lowp = NULL;
  if (dtype != BERT_BF16) return;
  int L = m->cfg.layers, d = m->cfg.hidden, I = m->cfg.intermediate;
  struct bert_lowp *lp = xcalloc(1, sizeof *lp);
  lp->n = 4 * L;
  lp->w = xcalloc((size_t)lp->n, sizeof *lp->w);
  for (int l = 0; l < L; l++) {
    const bert_layer_view *W = &m->p.layer[l];
    lp->w[4 * l + 0] = kern_bf16_pack(W->qkv_w, 3 * d, d);
    lp->w[4 * l + 1] = kern_bf16_pack(W->ao_w, d, d);
    lp->w[4 * l + 2] = kern_bf16_pack(W->fc_w, I, d);
    lp->w[4 * l + 3] = kern_bf16_pack(W->proj_w, d, I);
  }
  m->lowp = lp;
}

int bert_dtype(const bert_model *m) { return m->lowp ? BERT_BF16 : BERT_F32; }

/* ------------------------------------------------------------- backward */

void bert_alloc_grads(bert_model *m) {
  if (m->grads) return;
  m->grads = xcalloc(m->nparams ? m->nparams : 1, sizeof(float));
  bert_make_view(m, m->grads, &m->g);
}

void bert_zero_grads(bert_model *m) {
  if (m->grads) zero_mt(m->grads, m->nparams);
}

static int backward(bert_model *m, bert_acts *a, const float *d_hidden, float *d_input, int params, char *err,
                    size_t errlen) {
  if (!a->train) return set_err(err, errlen, "bert_backward: activations were made for inference (train = 0)");
  if (a->nlayers_run != m->cfg.layers)
    return set_err(err, errlen, "bert_backward: the forward pass did not run every layer");
  if (params) bert_alloc_grads(m);
  size_t N = (size_t)a->N, d = (size_t)a->d, I = (size_t)a->I;
  int n = a->N, H = a->H, id = (int)d, iI = (int)I;
  size_t P = bert_probs_size(a->B, a->len, H);
  if (N > a->cap_scratch_tokens || P > a->cap_scratch_probs) {
    free(a->scratch);
    a->cap_scratch_tokens = N > a->cap_scratch_tokens ? N : a->cap_scratch_tokens;
    a->cap_scratch_probs = P > a->cap_scratch_probs ? P : a->cap_scratch_probs;
    size_t tot = a->cap_scratch_tokens * (7 * d + 2 * I) + a->cap_scratch_probs;
    a->scratch = xmalloc(xmul(tot ? tot : 1, sizeof(float)));
  }
  size_t cN = a->cap_scratch_tokens;
  float *dx = a->scratch, *dres = dx + cN * d, *dln1 = dres + cN * d, *dctx = dln1 + cN * d;
  float *dqkv = dctx + cN * d, *dgelu = dqkv + cN * 3 * d, *dfc = dgelu + cN * I, *dprobs = dfc + cN * I;
  memcpy(dx, d_hidden, N * d * sizeof(float));
  att_ctx att = {.len = a->len, .start = a->start, .poff = a->poff, .H = H, .d = id, .dprobs = dprobs, .dqkv = dqkv,
                 .dout = dctx};
  for (int l = a->L - 1; l >= 0; l--) {
    const layer_acts *A = &a->layer[l];
    const bert_layer_view *W = &m->p.layer[l];
    bert_layer_view G0 = {0}, *G = params ? &m->g.layer[l] : &G0; /* NULL gradients: skipped */
    const float *x = l == 0 ? a->x0 : a->layer[l - 1].ln2_out;
    /* x_out = LN2(ffn_res), ffn_res = ln1_out + proj(gelu(fc(ln1_out))) */
    layernorm_backward_mt(dres, G->ln2_w, G->ln2_b, dx, A->ffn_res, W->ln2_w, A->ln2_mean, A->ln2_rstd, n, id, 0);
    memcpy(dln1, dres, N * d * sizeof(float));
    linear_backward_mt(dgelu, 0, G->proj_w, G->proj_b, dres, A->gelu, W->proj_w, n, iI, id);
    gelu_backward_mt(dfc, A->fc, dgelu, N * I, 0);
    linear_backward_mt(dln1, 1, G->fc_w, G->fc_b, dfc, A->ln1_out, W->fc_w, n, id, iI);
    /* ln1_out = LN1(att_res), att_res = x + ao(attention(qkv(x))) */
    layernorm_backward_mt(dres, G->ln1_w, G->ln1_b, dln1, A->att_res, W->ln1_w, A->ln1_mean, A->ln1_rstd, n, id, 0);
    memcpy(dx, dres, N * d * sizeof(float));
    linear_backward_mt(dctx, 0, G->ao_w, G->ao_b, dres, A->ctx, W->ao_w, n, id, id);
    zero_mt(dqkv, N * 3 * d);
    att.qkv = A->qkv, att.cprobs = A->probs;
    attention_mt(&att, a->B, att_bwd_item);
    linear_backward_mt(dx, 1, G->qkv_w, G->qkv_b, dqkv, x, W->qkv_w, n, id, 3 * id);
  }
  layernorm_backward_mt(dres, params ? m->g.emb_ln_w : NULL, params ? m->g.emb_ln_b : NULL, dx, a->emb_sum,
                        m->p.emb_ln_w, a->emb_mean, a->emb_rstd, n, id, 0);
  /* sequences given as embeds get no word-embedding gradient */
  const float *const *given_marks = NULL;
  const float **marks = NULL;
  int any_given = 0;
  for (int b = 0; b < a->B; b++) any_given |= a->given[b];
  if (any_given) {
    marks = xcalloc((size_t)a->B, sizeof *marks);
    for (int b = 0; b < a->B; b++) marks[b] = a->given[b] ? dres : NULL; /* any non-NULL pointer marks it */
    given_marks = marks;
  }
  if (params)
    bert_embeddings_backward(m->g.word_emb, m->g.pos_emb + (size_t)m->cfg.pos_offset * id, m->g.type_emb, d_input,
                             dres, a->B, a->len, a->ids,
                             given_marks, a->has_type_ids ? a->type_ids : NULL, id);
  else if (d_input)
    memcpy(d_input, dres, N * d * sizeof(float));
  free(marks);
  return 0;
}

int bert_backward(bert_model *m, bert_acts *a, const float *d_hidden, float *d_input, char *err, size_t errlen) {
  return backward(m, a, d_hidden, d_input, 1, err, errlen);
}

int bert_backward_input(bert_model *m, bert_acts *a, const float *d_hidden, float *d_input, char *err,
                        size_t errlen) {
  return backward(m, a, d_hidden, d_input, 0, err, errlen);
}

/* -------------------------------------------------------------- freezing */

void bert_freeze(bert_model *m, int embeddings, int first_layers) {
  for (int i = 0; i < m->ntensors; i++) {
    int g = m->tensors[i].group;
    const char *n = m->tensors[i].name;
    int position = strstr(n, "position_embeddings") || strstr(n, "token_type_embeddings");
    m->trainable[i] = !((g == -1 && (embeddings & BERT_FREEZE_EMBEDDINGS)) ||
                        (g == -1 && position && (embeddings & BERT_FREEZE_POSITIONS)) ||
                        (g >= 0 && g < first_layers && g < m->cfg.layers));
  }
}

/* ----------------------------------------------------------------- AdamW */

adamw_config adamw_defaults(void) {
  adamw_config c = {5e-5f, 0.9f, 0.999f, 1e-8f, 0.01f, 1.0f};
  return c;
}

adamw_state *adamw_new(const bert_model *m) {
  adamw_state *s = xcalloc(1, sizeof *s);
  s->n = m->nparams;
  s->m = xcalloc(s->n ? s->n : 1, sizeof(float));
  s->v = xcalloc(s->n ? s->n : 1, sizeof(float));
  return s;
}

void adamw_free(adamw_state *s) {
  if (!s) return;
  free(s->m);
  free(s->v);
  free(s);
}

/* The trainable tensors cut into chunks of at most CHUNK floats: the unit of
 * the parallel loops below. The chunks depend on the model only, so the
 * gradient norm (per-chunk double sums added in chunk order) is the same
 * for every thread count. */
#define CHUNK 65536
typedef struct {
  int tensor;
  size_t begin, end;
} chunk_t;

typedef struct {
  bert_model *m;
  adamw_state *s;
  chunk_t *ch;
  double *part;
  float gscale, step_size, inv_sqrt_bc2, b1, b2, eps, lr_wd;
} adam_ctx;

static size_t make_chunks(const bert_model *m, chunk_t **out) {
  size_t n = 0, cap = 0;
  chunk_t *ch = NULL;
  for (int i = 0; i < m->ntensors; i++) {
    if (!m->trainable[i]) continue;
    for (size_t b = 0; b < m->tensors[i].size; b += CHUNK) {
      if (n == cap) ch = xrealloc(ch, (cap = cap ? 2 * cap : 256) * sizeof *ch);
      size_t e = b + CHUNK < m->tensors[i].size ? b + CHUNK : m->tensors[i].size;
      ch[n++] = (chunk_t){i, b, e};
    }
  }
  *out = ch;
  return n;
}

static void norm_chunks(void *p, size_t b, size_t e) {
  adam_ctx *c = p;
  for (size_t k = b; k < e; k++) {
    const float *g = c->m->grads + c->m->tensors[c->ch[k].tensor].offset;
    double s = 0;
    for (size_t i = c->ch[k].begin; i < c->ch[k].end; i++) s += (double)g[i] * g[i];
    c->part[k] = s;
  }
}

static double grad_norm_chunks(adam_ctx *c, size_t n) {
  c->part = xmalloc((n ? n : 1) * sizeof *c->part);
  pool_for(n, 4, 0, norm_chunks, c);
  double s = 0;
  for (size_t k = 0; k < n; k++) s += c->part[k];
  free(c->part);
  return sqrt(s);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bert_median_word_norm(const bert_model *m) {
  size_t V = (size_t)m->cfg.vocab_size, d = (size_t)m->cfg.hidden;
  if (!V) return 0;
  double *n = xmalloc(V * sizeof *n);
  for (size_t i = 0; i < V; i++) {
    double s = 0;
    for (size_t k = 0; k < d; k++) s += (double)m->p.word_emb[i * d + k] * m->p.word_emb[i * d + k];
    n[i] = sqrt(s);
  }
  qsort(n, V, sizeof *n, cmp_double);
  double med = n[V / 2];
  free(n);
  return med;
}

double bert_grad_norm(const bert_model *m) {
  if (!m->grads) return 0;
  adam_ctx c = {.m = (bert_model *)m};
  size_t n = make_chunks(m, &c.ch);
  double norm = grad_norm_chunks(&c, n);
  free(c.ch);
  return norm;
}

static void adam_chunks(void *p, size_t b, size_t e) {
  adam_ctx *c = p;
  float gscale = c->gscale, b1 = c->b1, b2 = c->b2, eps = c->eps, step_size = c->step_size;
  float inv_sqrt_bc2 = c->inv_sqrt_bc2;
  for (size_t k = b; k < e; k++) {
    const bert_tensor *t = &c->m->tensors[c->ch[k].tensor];
    float *p = c->m->params + t->offset, *g = c->m->grads + t->offset, *mm = c->s->m + t->offset;
    float *vv = c->s->v + t->offset;
    float decay = t->decay ? 1.0f - c->lr_wd : 1.0f;
    for (size_t i = c->ch[k].begin; i < c->ch[k].end; i++) {
      float gk = g[i] * gscale;
      p[i] *= decay;
      mm[i] = b1 * mm[i] + (1 - b1) * gk;
      vv[i] = b2 * vv[i] + (1 - b2) * gk * gk;
      p[i] -= step_size * mm[i] / (sqrtf(vv[i]) * inv_sqrt_bc2 + eps);
    }
  }
}

int bert_adamw_step(bert_model *m, adamw_state *s, const adamw_config *c, double *grad_norm, char *err,
                    size_t errlen) {
  if (s->n != m->nparams) return set_err(err, errlen, "bert_adamw_step: optimizer state does not match the model");
  if (!m->grads) bert_alloc_grads(m);
  adam_ctx a = {.m = m, .s = s};
  size_t n = make_chunks(m, &a.ch);
  double norm = grad_norm_chunks(&a, n);
  float gscale = 1.0f;
  if (c->clip_norm > 0 && norm > c->clip_norm) gscale = (float)(c->clip_norm / (norm + 1e-6));
  s->step++;
  double bc1 = 1.0 - pow(c->beta1, (double)s->step), bc2 = 1.0 - pow(c->beta2, (double)s->step);
  a.gscale = gscale;
  a.step_size = (float)(c->lr / bc1), a.inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
  a.b1 = c->beta1, a.b2 = c->beta2, a.eps = c->eps, a.lr_wd = c->lr * c->weight_decay;
  pool_for(n, 2, 0, adam_chunks, &a);
  free(a.ch);
  *grad_norm = norm;
  return 0;
}

