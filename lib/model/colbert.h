/* model/colbert.h: ColBERT's query and document encoders (Khattab and
 * Zaharia 2020; ColBERTv2, Santhanam et al. 2022) over a BERT folder with
 * ColBERT's projection (bert_model.linear_w: `linear.weight` [dim][hidden],
 * the layout of colbert-ir/colbertv2.0's HF_ColBERT checkpoint).
 *
 * As colbert/modeling/tokenization and colbert/modeling/colbert.py do it:
 *  - ids: ColBERT tokenizes ". " + text and puts its marker over the ".":
 *    [CLS] [Q] pieces... [SEP] for queries, [CLS] [D] pieces... [SEP] for
 *    documents; with [Q] = [unused0], [D] = [unused1] (query_token_id,
 *    doc_token_id). From tokenize's [CLS] pieces... [SEP] that is the
 *    marker inserted after the first token. Queries are truncated to
 *    query_len tokens ([CLS] [Q] first query_len - 3 pieces [SEP]) and
 *    padded with [MASK] to query_len (query augmentation); documents are
 *    truncated to doc_len tokens likewise (0: no limit).
 *  - the encoder's last hidden state. The [MASK] padding of a query is not
 *    attended to (attend_to_mask_tokens false, ColBERTv2's default: HF's
 *    attention mask is 0 there), but every [MASK] position gets a vector:
 *    it attends to the real tokens. With attend_to_mask_tokens true the
 *    whole padded query is one ordinary sequence.
 *  - the projection y = W x (+ b), then for documents the tokens whose id is
 *    in the skiplist (mask_punctuation: the id of each ASCII punctuation
 *    character of Python's string.punctuation, as ColBERT's
 *    raw_tokenizer.encode(symbol)[0] gives it) are dropped, as ColBERT's
 *    doc(keep_dims=False) and its index drop them; then each vector is
 *    L2-normalised (x / max(|x|, 1e-12), torch's normalize).
 * The MaxSim score sum_i max_j q_i . d_j over these vectors is ColBERT's
 * score (rank --mode maxsim).
 *
 * Settings: ColBERTv2's defaults (query_len 32, doc_len 0 here where ColBERT
 * has 180 or 300, mask_punctuation, attend_to_mask_tokens false, markers
 * [unused0]/[unused1]), then the checkpoint's artifact.metadata when the
 * folder has one (query_maxlen, doc_maxlen, mask_punctuation,
 * attend_to_mask_tokens, query_token_id, doc_token_id, dim, similarity).
 * Errors: -1 with a message naming the folder or file; no output, no exit. */
#ifndef OTC_COLBERT_H
#define OTC_COLBERT_H

#include <stddef.h>
#include <stdint.h>

#include "model/batch.h"
#include "model/bert.h"

enum { COLBERT_QUERY = 1, COLBERT_DOC = 2 };

typedef struct {
  int query_len;        /* query_maxlen */
  int doc_len;          /* doc_maxlen, 0 = the model's limit */
  int attend_to_mask;   /* attend_to_mask_tokens */
  int mask_punctuation;
  uint32_t q_marker, d_marker, mask_id;
  unsigned char *skip;  /* [vocab_size]: document ids dropped (punctuation) */
  int dim;              /* the projection's output size */
} colbert_config;

/* Settings for model m loaded from dir (its vocab.txt gives the ids). -1 when
 * the model has no projection or vocab.txt, or a marker is not in it. */
int colbert_config_load(colbert_config *c, const bert_model *m, const char *dir, char *err, size_t errlen);
void colbert_config_free(colbert_config *c);

/* The ids ColBERT encodes for tokenized ids[0..n) (n >= 2: [CLS] ... [SEP])
 * into out (room for n + 1 and for query_len ids); returns their count.
 * *n_real: the ids before the [MASK] padding (queries) or all (documents). */
size_t colbert_ids(const colbert_config *c, int mode, const uint32_t *ids, size_t n, uint32_t *out, size_t *n_real);

/* Hidden states of n prepared queries: seqs[i] holds all query_len ids,
 * n_real[i] of them real; out[i] gets [seqs[i].len][hidden]. Uses its own
 * training-mode activations (every layer's state is needed) in batches of
 * at most budget tokens. */
int colbert_encode_queries(bert_model *m, const colbert_config *c, bert_packer *p, const bert_seq *seqs,
                           const size_t *n_real, int n, size_t budget, float *const *out, char *err, size_t errlen);

/* Projection, skiplist and normalisation of one sequence: hidden [n][hidden]
 * -> vecs [kept][dim], ids[] compacted alike (documents drop skiplist ids).
 * Returns the kept count. */
size_t colbert_finish(const bert_model *m, const colbert_config *c, int mode, uint32_t *ids, size_t n,
                      const float *hidden, float *vecs);

#endif
