/* model/embedder.h: token sequences to vectors as `embed` writes them:
 * checks and truncation per sequence, batches by token budget (batch.h),
 * the encoder (bert.h) or ColBERT's encoders (colbert.h), pooling and
 * normalisation.
 *
 * Per sequence: emb_prepare validates the ids (or input embeddings)
 * against the model and builds the ids actually encoded (truncated with
 * `truncate`: the first max-1 tokens and the last; ColBERT: markers,
 * [MASK] padding); emb_run encodes a window of prepared sequences and
 * fills vecs [out_n][dim] (and vec [dim] with pooling). out_ids are the
 * ids of the rows of vecs: the input ids, unless `ids_changed` (truncated,
 * or ColBERT's ids, documents without their skipped punctuation).
 *
 * Pooling: mean over the non-special tokens (special: the mask from
 * emb_special_mask; every token when all are special), or the first
 * token's vector; normalize scales every vector (and vec, after pooling) to
 * unit L2 length. ColBERT's vectors are always normalised (colbert.h).
 * Errors: -1 with a message (the caller names the record); no exit. */
#ifndef OTC_EMBEDDER_H
#define OTC_EMBEDDER_H

#include <stddef.h>
#include <stdint.h>

#include "model/batch.h"
#include "model/bert.h"
#include "model/colbert.h"

enum { EMB_POOL_NONE = 0, EMB_POOL_MEAN = 1, EMB_POOL_CLS = 2 };

typedef struct {
  int nlayers;                  /* hidden state after this many layers; -1: all */
  int pool;                     /* EMB_POOL_* */
  int normalize;
  int truncate;                 /* else a sequence above the model's length is an error */
  size_t batch_tokens;          /* tokens per forward pass */
  int colbert;                  /* 0, COLBERT_QUERY or COLBERT_DOC */
  const colbert_config *cb;     /* with colbert */
  const unsigned char *special; /* [vocab_size] for EMB_POOL_MEAN */
} emb_options;

typedef struct {
  /* input (borrowed) */
  const uint32_t *ids;
  size_t n;
  const float *embeds;          /* NULL or [n][hidden] */
  /* prepared */
  uint32_t *out_ids;            /* the ids encoded, then of the output rows */
  size_t len, n_real;           /* ids encoded; those before ColBERT's [MASK] padding */
  const float *use_embeds;
  float *embeds_buf;
  int ids_changed;
  /* output */
  float *vecs;                  /* [out_n][emb_dim] */
  size_t out_n;
  float *vec;                   /* [emb_dim] with pooling */
} emb_item;

/* The output vector size: the projection's with ColBERT, else hidden. */
int emb_dim(const bert_model *m, const emb_options *o);
int emb_prepare(const bert_model *m, const emb_options *o, emb_item *it, char *err, size_t errlen);
/* Encode items[0..n) (all prepared); -1 with err "sequence I: ..." naming
 * the item. */
int emb_run(bert_model *m, bert_acts *a, bert_packer *p, const emb_options *o, emb_item *items, int n, char *err,
            size_t errlen);
void emb_item_free(emb_item *it);

/* The special ids for mean pooling, as a [vocab_size] mask: the stream's
 * special_ids metadata ("101,102") when given, else the model
 * vocabulary's [CLS], [SEP], [PAD] (vocab.txt) or <s>, <pad>, </s>
 * (SentencePiece: ids 0, 1, 2). NULL with err when the metadata is not an
 * id list, or when there is neither metadata nor a vocabulary (pooling
 * would silently include the specials). */
unsigned char *emb_special_mask(const bert_model *m, const char *meta, char *err, size_t errlen);

#endif
