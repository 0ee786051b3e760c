/* bert.h: the BERT encoder (Hugging Face BertModel semantics), forward and
 * backward, in the style of llm.c: every parameter lives in ONE contiguous
 * float block with an index of named views; gradients and the AdamW moments
 * are blocks of the same layout; a forward pass caches what the backward
 * pass needs.
 *
 * Semantics (identical to transformers' BertModel, eval mode, no dropout):
 *   x0 = LayerNorm(word[ids] + position[0..T-1] + token_type[type_ids])
 *   per layer (post-LN):
 *     a = LayerNorm(x + Dense_ao(MultiHeadSelfAttention(x)))
 *     x = LayerNorm(a + Dense_out(GELU(Dense_in(a))))
 *   attention: softmax(Q K^T / sqrt(hidden/heads)) V per head, a sequence
 *   attends only to its own tokens (the padding mask); GELU is the exact erf
 *   form; LayerNorm uses the biased variance and layer_norm_eps from
 *   config.json. num_hidden_layers = 0 gives LayerNorm(embeddings). The pooler
 *   is loaded and saved (so a folder round-trips) but not applied.
 *
 * Batches are PACKED, not padded: B sequences of lengths len[0..B-1] are laid
 * out one after another as N = sum(len) token rows. Dense layers run on all N
 * rows at once (one sgemm each), attention runs per sequence. This is exactly
 * HF's result with an attention mask, without the wasted work on padding.
 * Every [N][...] array below (ids, embeddings, outputs, gradients) uses this
 * layout; sequence b starts at row bert_seq_start(acts, b).
 *
 * RoBERTa and XLM-R (model_type roberta / xlm-roberta) are the same
 * computation with position rows pos_offset + t (pad_token_id + 1 + t), as
 * HF's create_position_ids_from_input_ids gives for a sequence without
 * <pad> tokens (a <pad> inside a sequence would get position pad_token_id
 * there and shift the rest; packed batches have no padding, and the
 * tokenizer never emits <pad>).
 *
 * Model folder (Hugging Face layout, loads in transformers as it is):
 *   config.json        model_type (bert, roberta, xlm-roberta), hidden_size,
 *                      num_hidden_layers, num_attention_heads,
 *                      intermediate_size, max_position_embeddings,
 *                      type_vocab_size, vocab_size, layer_norm_eps, hidden_act,
 *                      pad_token_id
 *   model.safetensors  HF tensor names ("embeddings.word_embeddings.weight",
 *                      "encoder.layer.N.attention.self.query.weight", ...,
 *                      "pooler.dense.bias"); a "bert." prefix and the old
 *                      "LayerNorm.gamma"/"beta" names are accepted on load;
 *                      F32, F16, BF16 read; F32 written. Tensors outside the
 *                      encoder (e.g. "cls.predictions.*" of a masked-LM
 *                      checkpoint, "embeddings.position_ids") are ignored.
 *   vocab.txt, sentencepiece.bpe.model or tokenizer.model
 *                      optional on load (kept in memory and copied on save)
 *
 * Errors: functions that can fail on input return 0 / -1 and write a message
 * naming the file, tensor or sequence into err (errlen bytes); they never
 * exit. Allocation failure dies (util.h).
 *
 * Threads: the dense layers (~95% of the FLOPs) are kernels/blas.h's
 * kern_sgemm, serial OpenBLAS calls on blocks of the output split over the
 * pool (or kernels/bf16.h's products on the pool), so only one set of
 * threads exists; attention runs one (sequence, head) per pool item,
 * each calling OpenBLAS on its own thread; GELU, LayerNorm (forward and
 * backward), bias gradients and AdamW are split by rows, columns or
 * elements over the pool (base/pool.h), each item computed the same way
 * whatever the split. The element-wise kernels are kernels/vec.h's, chosen
 * by CPU at run time. Output is bit-identical for the same input, batch
 * composition, thread count and CPU level. Calls sharing one bert_acts or
 * one model's gradients must not run concurrently; separate (model, acts)
 * pairs may.
 */
#ifndef OTC_BERT_H
#define OTC_BERT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- config */

typedef struct {
  int vocab_size;
  int hidden;           /* hidden_size (d) */
  int layers;           /* num_hidden_layers (may be 0) */
  int heads;            /* num_attention_heads; hidden % heads == 0 */
  int intermediate;     /* intermediate_size */
  int max_position;     /* max_position_embeddings */
  int type_vocab;       /* type_vocab_size (>= 1) */
  float ln_eps;         /* layer_norm_eps (default 1e-12) */
  float init_range;     /* initializer_range (default 0.02), for bert_init */
  int pad_token_id;     /* written back to config.json (BERT 0, RoBERTa/XLM-R 1) */
  int has_pooler;       /* pooler.dense.{weight,bias} present in the block */
  int arch;             /* BERT_ARCH_*: config.json's model_type */
  int pos_offset;       /* position of token t is pos_offset + t: BERT 0,
                           RoBERTa/XLM-R pad_token_id + 1 (fairseq's positions) */
} bert_config;

/* model_type bert; roberta and xlm-roberta (RobertaModel, XLMRobertaModel):
 * the same encoder with positions from padding_idx + 1, usually one token
 * type, LayerNorm eps 1e-5, and "roberta." weight prefixes in masked-LM
 * checkpoints. */
enum { BERT_ARCH_BERT = 0, BERT_ARCH_ROBERTA = 1, BERT_ARCH_XLMR = 2 };

/* The longest sequence the model takes: max_position_embeddings - pos_offset
 * (512 for BERT's 512 and XLM-R's 514). */
static inline int bert_max_tokens(const bert_config *c) { return c->max_position - c->pos_offset; }

/* Parse config.json text. Missing keys take BERT's defaults except
 * vocab_size, hidden_size, num_hidden_layers, num_attention_heads and
 * intermediate_size, which are required; hidden_act must be "gelu" (the exact
 * erf form; "gelu_new"/"gelu_pytorch_tanh" are refused rather than silently
 * computed differently). */
int bert_config_parse(const char *json, size_t len, bert_config *c, char *err, size_t errlen);
int bert_config_load(const char *path, bert_config *c, char *err, size_t errlen);
/* Write a config.json that transformers' BertConfig reads. */
void bert_config_write(FILE *f, const bert_config *c);

/* ---------------------------------------------------------------- params */

/* Views into one block laid out as the model's parameter block (params,
 * grads, AdamW m and v all use the same layout). Linear weights are stored
 * as HF does, [out][in] row-major (y = x W^T + b). */
typedef struct {
  float *qkv_w;           /* [3d][d]: query, key, value weights back to back */
  float *qkv_b;           /* [3d]: query, key, value biases */
  float *ao_w, *ao_b;     /* attention.output.dense [d][d], [d] */
  float *ln1_w, *ln1_b;   /* attention.output.LayerNorm [d] */
  float *fc_w, *fc_b;     /* intermediate.dense [I][d], [I] */
  float *proj_w, *proj_b; /* output.dense [d][I], [d] */
  float *ln2_w, *ln2_b;   /* output.LayerNorm [d] */
} bert_layer_view;

typedef struct {
  float *word_emb;        /* [vocab][d] */
  float *pos_emb;         /* [max_position][d] */
  float *type_emb;        /* [type_vocab][d] */
  float *emb_ln_w, *emb_ln_b; /* [d] */
  bert_layer_view *layer; /* [layers] (owned by the view) */
  float *pool_w, *pool_b; /* [d][d], [d]; NULL without a pooler */
} bert_view;

/* One named tensor of the block (the index). */
typedef struct {
  char name[96];          /* HF name without prefix, e.g. "encoder.layer.3.output.dense.bias" */
  size_t offset;          /* in floats from the start of the block */
  size_t size;            /* floats */
  int rank;               /* 1 or 2 */
  int shape[2];
  int decay;              /* 1: AdamW weight decay applies (not biases, not LayerNorm) */
  int group;              /* -1 embeddings (incl. their LayerNorm), 0..L-1 layer, L pooler */
} bert_tensor;

typedef struct {
  bert_config cfg;
  size_t nparams;         /* floats in the block */
  float *params;          /* the block */
  bert_view p;            /* views into params */
  int ntensors;
  bert_tensor *tensors;   /* the index, in block order */
  float *grads;           /* NULL until bert_alloc_grads */
  bert_view g;            /* views into grads */
  char *vocab;            /* the vocabulary file's bytes (NULL if the folder had none) */
  size_t vocab_len;
  char vocab_name[32];    /* its name in the folder: vocab.txt (WordPiece),
                             sentencepiece.bpe.model or tokenizer.model (XLM-R) */
  unsigned char *trainable; /* [ntensors]: 0 = frozen (bert_freeze), 1 = updated */
  /* ColBERT's projection (linear.weight [linear_out][hidden], linear.bias
   * [linear_out] or NULL), outside the parameter block: loaded, saved and
   * hashed into the model id, applied by model/colbert.h, not trained.
   * NULL / 0 in a plain encoder. */
  float *linear_w, *linear_b;
  int linear_out;
  struct bert_lowp *lowp;   /* bfloat16 copies of the dense weights (bert_set_dtype); NULL: float32 */
} bert_model;

/* Allocate a model for a config (parameters zero). */
bert_model *bert_new(const bert_config *c);
/* Fresh model as transformers' _init_weights: Linear and Embedding weights
 * normal(0, init_range), biases 0, LayerNorm weight 1, bias 0, the
 * padding row (pad_token_id) of the word embeddings 0. Deterministic for a
 * seed (rng.h), independent of threads. */
bert_model *bert_init(const bert_config *c, uint64_t seed);
/* Load a Hugging Face BERT, RoBERTa or XLM-R folder (config.json,
 * model.safetensors, optional vocabulary file: vocab.txt, else
 * sentencepiece.bpe.model, else tokenizer.model; an empty one is an error).
 * Every encoder tensor must be present with the shape the config implies;
 * the pooler is optional (absent: has_pooler = 0); "bert." and "roberta."
 * prefixes are accepted; a ColBERT projection (linear.weight [dim][hidden],
 * optional linear.bias) is loaded into linear_w. */
bert_model *bert_load(const char *dir, char *err, size_t errlen);
/* Write a folder: DIR.tmp.PID/ gets config.json, model.safetensors (F32, HF
 * names without prefix, sorted, as BertModel/XLMRobertaModel.save_pretrained
 * write them; linear.weight when the model has a projection), the vocabulary
 * file (when the model has one, under vocab_name), then it is renamed to DIR
 * (an existing model folder is replaced: renamed aside, then removed). */
int bert_save(const bert_model *m, const char *dir, char *err, size_t errlen);
void bert_free(bert_model *m);
/* Set the vocabulary bytes to copy on save, and their file name (NULL:
 * vocab.txt). */
void bert_set_vocab(bert_model *m, const char *text, size_t len, const char *name);
/* Load a vocabulary file into the model (for --init --vocab): a name ending
 * in ".model" is a SentencePiece model (saved as sentencepiece.bpe.model, or
 * tokenizer.model under that name), anything else a vocab.txt. An empty
 * file is an error. */
int bert_load_vocab(bert_model *m, const char *path, char *err, size_t errlen);
/* SHA-256 (hex) of the vocabulary bytes, as the `vocab` stream metadata
 * holds it for the file; -1 when the model has no vocabulary. */
int bert_vocab_sha256(const bert_model *m, char out[65]);
/* Whether token ids with the stream metadata `key` = stream_hash (NULL:
 * nothing to check, 0) were made with this model's vocabulary: -1 with a
 * message naming both hashes, the metadata key and the model's file (dir
 * names the folder) when they differ or the model has no vocabulary. */
int bert_vocab_check(const bert_model *m, const char *dir, const char *key, const char *stream_hash, char *err,
                     size_t errlen);
/* The id of a piece in a vocab.txt model (line number, first occurrence), or
 * -1 (absent, or a SentencePiece vocabulary). */
int64_t bert_vocab_id(const bert_model *m, const char *piece);

/* Model id for stream metadata: "bert-" + 16 hex digits of a 64-bit hash of
 * the config dims and every parameter's bits. out needs 24 bytes. Equal
 * weights give equal ids (a model reloaded from our own save keeps its id). */
void bert_model_id(const bert_model *m, char out[24]);

/* Index lookup by HF name (without "bert." prefix); NULL if absent. */
const bert_tensor *bert_find_tensor(const bert_model *m, const char *name);
/* Fill views for any block of nparams floats in the model's layout
 * (e.g. AdamW moments). v->layer is allocated; release with bert_view_free. */
void bert_make_view(const bert_model *m, float *block, bert_view *v);
void bert_view_free(bert_view *v);

/* Copy word-embedding rows from src to dst for every piece both
 * vocabularies hold (matched by string; the first occurrence in src wins);
 * the pieces are given in id order (vocab.txt lines, or XLM-R's pieces from
 * text/tokenizer.h). Needs dst->cfg.hidden == src->cfg.hidden.
 * *copied = rows copied. */
int bert_copy_rows_by_piece(bert_model *dst, const char *const *dst_pieces, size_t nd, const bert_model *src,
                            const char *const *src_pieces, size_t ns, size_t *copied, char *err, size_t errlen);

/* Copy every tensor of src that dst has with the same name and shape, except
 * the word embeddings (vocabularies differ: use bert_copy_rows_by_piece). For a
 * student with the teacher's architecture and a pruned vocabulary this copies
 * the whole encoder. Returns the number of tensors copied. */
int bert_copy_matching(bert_model *dst, const bert_model *src);

/* Precision of the dense layers in bert_forward. BERT_F32 (the default):
 * float32 throughout. BERT_BF16: inference only (frozen models, e.g. the
 * teacher); the four dense products of each layer take their input and
 * weights rounded to bfloat16 and accumulate in float32 (kernels/bf16.h:
 * AMX or AVX512_BF16 where the CPU has them, float32 sgemm on the rounded
 * values otherwise); attention, GELU and LayerNorm stay float32. The
 * weights are copied and rounded by this call: a model whose parameters
 * change afterwards needs the call again. Output vectors stay close to
 * float32: smallest cosine 0.99999 over 1548 tokens of a random BERT-base
 * (bench/results/embed.md), >= 0.999 checked by tests/unit/test_bert_par.c.
 * A forward with train acts on a BF16 model is refused. */
enum { BERT_F32, BERT_BF16 };
void bert_set_dtype(bert_model *m, int dtype);
int bert_dtype(const bert_model *m);

/* ----------------------------------------------------------- activations */

typedef struct bert_acts bert_acts;

/* Activations for one model. train = 1 keeps every layer's intermediates
 * for bert_backward; train = 0 reuses one layer's buffers (inference: memory
 * of one layer). Buffers grow to the largest batch seen. */
bert_acts *bert_acts_new(const bert_model *m, int train);
void bert_acts_free(bert_acts *a);

typedef struct {
  int B;                        /* sequences */
  const int *len;               /* [B]: lengths, 1..max_position */
  const uint32_t *ids;          /* [N] packed token ids (read where embeds[b] is NULL) */
  const float *const *embeds;   /* NULL, or [B] pointers: embeds[b] non-NULL = that
                                   sequence's input word embeddings [len[b]][d], used in
                                   place of word_emb[ids] (position and token-type
                                   embeddings are still added) */
  const float *delta;           /* NULL or [N][d]: added to the word embedding of every
                                   token (adversarial perturbation inside the model) */
  const uint32_t *type_ids;     /* NULL (all 0) or [N] */
} bert_input;

/* Forward pass. nlayers: run the embeddings and the first nlayers layers
 * (-1 = all); the output is then that layer's hidden state (0 = embedding
 * LayerNorm output), as HF's hidden_states[nlayers]. For bert_backward, use
 * train acts and nlayers = -1 (or the full count). Errors (length 0 or above
 * max_position, token id >= vocab_size, type id >= type_vocab) name the
 * sequence index and position: "sequence 3, token 5: id 1234 >= vocab_size 1000". */
int bert_forward(bert_model *m, bert_acts *a, const bert_input *in, int nlayers,
                 char *err, size_t errlen);
/* [N][d] output of the last forward (valid until the next forward). */
const float *bert_output(const bert_acts *a);
/* [N][d] hidden state entering layer l in the last forward (0: the
 * embedding LayerNorm output; l: layer l-1's output), as HF's
 * hidden_states[l]. Train acts keep every layer's; inference acts only the
 * last run's (other l: NULL). */
const float *bert_hidden_state(const bert_acts *a, int l);
int bert_ntokens(const bert_acts *a);              /* N of the last forward */
int bert_seq_start(const bert_acts *a, int b);     /* first row of sequence b */

/* ------------------------------------------------------------- training */

/* Allocate the gradient block (zeroed) and its views m->g. */
void bert_alloc_grads(bert_model *m);
void bert_zero_grads(bert_model *m);
/* Backward pass of the last forward (train acts, all layers), given
 * d_hidden = dL/d(last hidden state) [N][d]. ACCUMULATES parameter gradients
 * into m->grads (call bert_zero_grads between steps). Word-embedding
 * gradients go to the rows of the ids of sequences that used the lookup (not
 * to sequences given as embeds). If d_input is non-NULL it receives
 * dL/d(input word embeddings) [N][d] (equally dL/d delta), overwritten, for
 * FGSM / PGD / FreeLB. Errors (acts made for inference, a forward that did
 * not run every layer) return -1 with the message in err. */
int bert_backward(bert_model *m, bert_acts *a, const float *d_hidden, float *d_input, char *err, size_t errlen);
/* As bert_backward but only dL/d(input word embeddings) into d_input: no
 * parameter gradient is computed or touched (PGD ascent steps; about 1/3
 * cheaper). */
int bert_backward_input(bert_model *m, bert_acts *a, const float *d_hidden, float *d_input, char *err,
                        size_t errlen);

/* Freezing: frozen tensors keep their gradient but are not updated by
 * bert_adamw_step and do not count in the clipping norm.
 * embeddings, flags: BERT_FREEZE_EMBEDDINGS freezes the word/position/
 * token-type embeddings and the embedding LayerNorm; BERT_FREEZE_POSITIONS
 * the position and token-type embeddings only (a 0-layer model whose
 * positions start at zero then stays one vector per token id);
 * first_layers freezes encoder layers 0..first_layers-1.
 * Calling again replaces the previous setting. */
#define BERT_FREEZE_EMBEDDINGS 1
#define BERT_FREEZE_POSITIONS 2
void bert_freeze(bert_model *m, int embeddings, int first_layers);

/* ---------------------------------------------------------------- AdamW */

typedef struct {
  float lr;             /* learning rate of this step */
  float beta1, beta2;   /* 0.9, 0.999 */
  float eps;            /* 1e-8 (added to sqrt(v_hat), as torch.optim.AdamW) */
  float weight_decay;   /* decoupled: p -= lr * wd * p, only on tensors with decay = 1:
                           the embedding tables and dense weights, NOT biases and NOT
                           LayerNorm weights/biases (the usual BERT no_decay list) */
  float clip_norm;      /* > 0: scale all trainable gradients so their global L2 norm
                           is at most clip_norm (torch clip_grad_norm_); 0 = off */
} adamw_config;

/* AdamW defaults: lr 5e-5, betas 0.9/0.999, eps 1e-8, wd 0.01, clip 1.0. */
adamw_config adamw_defaults(void);

typedef struct {
  size_t n;
  float *m, *v;         /* first and second moments, model block layout */
  uint64_t step;        /* steps taken (bias correction uses step + 1 on the next) */
} adamw_state;

adamw_state *adamw_new(const bert_model *m);
void adamw_free(adamw_state *s);
/* Global L2 norm of the trainable gradients (double accumulation). */
double bert_grad_norm(const bert_model *m);
/* The median L2 norm of the word-embedding rows (row vocab/2 of the sorted
 * norms; double accumulation): the scale attack radii are given in, so that
 * a model cannot look robust to a fixed radius just by growing its
 * embeddings. */
double bert_median_word_norm(const bert_model *m);
/* One step on every trainable tensor: clip, decoupled weight decay, moment
 * update, bias-corrected update. *grad_norm: the gradient norm before
 * clipping. An optimizer state of another model returns -1 (message in err). */
int bert_adamw_step(bert_model *m, adamw_state *s, const adamw_config *c, double *grad_norm, char *err,
                    size_t errlen);
/* Optimizer state as DIR/optimizer.safetensors ("m.NAME", "v.NAME", step in
 * __metadata__), written atomically; load checks the layout matches. */
int adamw_save(const adamw_state *s, const bert_model *m, const char *path, char *err, size_t errlen);
int adamw_load(adamw_state *s, const bert_model *m, const char *path, char *err, size_t errlen);

/* ---------------------------------------------------------------- layers
 * The building blocks, on packed rows, exposed so that tests can check each
 * backward by finite differences. Each exists in float and, with the suffix
 * _d, in double (same source, instantiated twice from bert_kernels.h).
 * Backward functions ACCUMULATE (+=) into every gradient they write.
 *
 *  bert_linear_forward(out[N][OC], inp[N][C], w[OC][C], b[OC] or NULL, N, C, OC)
 *  bert_linear_backward(dinp[N][C] or NULL, dw[OC][C], db[OC] or NULL, dout[N][OC],
 *                       inp, w, N, C, OC)
 *  bert_layernorm_forward(out[N][C], mean[N], rstd[N], inp[N][C], w[C], b[C], N, C, eps)
 *  bert_layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C)
 *  bert_gelu_forward(out[n], inp[n], n)         exact erf GELU
 *  bert_gelu_backward(dinp[n], inp[n], dout[n], n)
 *  bert_residual_forward(out[n], a[n], b[n], n)  out = a + b
 *  bert_attention_forward(out[N][d], probs, qkv[N][3d], B, len, H, d)
 *     probs: per sequence b, [H][len_b][len_b] back to back (softmax rows)
 *  bert_attention_backward(dqkv[N][3d], dprobs (scratch, as probs), dout[N][d],
 *                          qkv, probs, B, len, H, d)
 *  bert_embeddings_forward(out[N][d], B, len, ids, embeds[B] or NULL, delta or NULL,
 *                          type_ids or NULL, word, pos, type, d)
 *  bert_embeddings_backward(dword or NULL, dpos, dtype, dinput[N][d] or NULL
 *                           (overwritten), dout[N][d], B, len, ids, embeds, type_ids, d)
 */
#define BERT_DECLARE_LAYERS(real, sfx)                                                        \
  void bert_linear_forward##sfx(real *out, const real *inp, const real *w, const real *b,    \
                                int N, int C, int OC);                                       \
  void bert_linear_backward##sfx(real *dinp, real *dw, real *db, const real *dout,           \
                                 const real *inp, const real *w, int N, int C, int OC);      \
  void bert_layernorm_forward##sfx(real *out, real *mean, real *rstd, const real *inp,       \
                                   const real *w, const real *b, int N, int C, double eps);  \
  void bert_layernorm_backward##sfx(real *dinp, real *dw, real *db, const real *dout,        \
                                    const real *inp, const real *w, const real *mean,        \
                                    const real *rstd, int N, int C);                         \
  void bert_gelu_forward##sfx(real *out, const real *inp, size_t n);                          \
  void bert_gelu_backward##sfx(real *dinp, const real *inp, const real *dout, size_t n);      \
  void bert_residual_forward##sfx(real *out, const real *a, const real *b, size_t n);         \
  void bert_attention_forward##sfx(real *out, real *probs, const real *qkv, int B,           \
                                   const int *len, int H, int d);                            \
  void bert_attention_backward##sfx(real *dqkv, real *dprobs, const real *dout,              \
                                    const real *qkv, const real *probs, int B,               \
                                    const int *len, int H, int d);                           \
  void bert_embeddings_forward##sfx(real *out, int B, const int *len, const uint32_t *ids,   \
                                    const real *const *embeds, const real *delta,            \
                                    const uint32_t *type_ids, const real *word,              \
                                    const real *pos, const real *type, int d);               \
  void bert_embeddings_backward##sfx(real *dword, real *dpos, real *dtype, real *dinput,     \
                                     const real *dout, int B, const int *len,                \
                                     const uint32_t *ids, const real *const *embeds,         \
                                     const uint32_t *type_ids, int d);
BERT_DECLARE_LAYERS(float, )
BERT_DECLARE_LAYERS(double, _d)

/* Size of the probs array for a batch: sum over b of H * len[b]^2. */
size_t bert_probs_size(int B, const int *len, int H);

/* FLOPs of one forward over a batch (2 per multiply-add; dense layers and
 * attention products), for GFLOP/s reports. Backward is about twice this. */
double bert_forward_flops(const bert_config *c, int B, const int *len);

#endif
