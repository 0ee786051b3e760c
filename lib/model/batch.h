/* model/batch.h: packing token sequences into encoder batches (bert_input)
 * by a token budget: the one batch packer of otclir.
 *
 * A caller has n sequences (ids, optional input embeddings, optional token
 * types) and a budget of tokens per forward pass. batch_plan orders them
 * (by length, ascending, stable, when sort is set: similar lengths share a
 * batch; else in input order) and cuts the order into consecutive batches
 * of at most `budget` tokens (a longer sequence gets a batch of its own).
 * batch_pack fills a bert_input for one batch from the packer's own
 * buffers (valid until the next batch_pack). Packed batches have no
 * padding (bert.h), so the result of a sequence does not depend on the
 * batch it lands in beyond float rounding of the batched products.
 *
 *   bert_packer p = {0};
 *   int nb = batch_plan(&p, len, n, 8192, 1);
 *   for (int k = 0; k < nb; k++) {
 *     bert_input in;
 *     batch_pack(&p, seqs, k, &in);
 *     bert_forward(m, acts, &in, -1, err, sizeof err);
 *     for (int j = 0; j < in.B; j++)   // sequence batch_seq(&p, k, j) is row
 *       ... bert_output(acts) + bert_seq_start(acts, j) * d ...
 *   }
 *   batch_free(&p);
 *
 * bert_encode_seqs does exactly that and copies each sequence's output rows
 * into its own array. Deterministic: the plan depends only on the lengths,
 * the budget and sort. No output, no exit. */
#ifndef OTC_BATCH_H
#define OTC_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "model/bert.h"

typedef struct {
  const uint32_t *ids;      /* [len]: token ids (read where embeds is NULL) */
  const float *embeds;      /* NULL or [len][d]: input word embeddings */
  const uint32_t *type_ids; /* NULL (all 0) or [len] */
  int len;                  /* >= 1 */
} bert_seq;

typedef struct {
  int first, count; /* positions in order[] */
  size_t tokens;
} batch_span;

typedef struct {
  int *order;          /* [n]: sequence indices in batch order */
  batch_span *spans;   /* [nbatches] */
  int n, nbatches;
  size_t cap_n;
  /* buffers of the packed batch */
  uint32_t *ids, *type_ids;
  size_t cap_tokens;
  int *len;
  const float **embeds;
  size_t cap_seqs;
} bert_packer;

/* Plan batches for sequences of the given lengths; returns the number of
 * batches. budget >= 1. */
int batch_plan(bert_packer *p, const int *len, int n, size_t budget, int sort);
/* The index (into the caller's sequences) of sequence j of batch k. */
static inline int batch_seq(const bert_packer *p, int k, int j) { return p->order[p->spans[k].first + j]; }
/* Fill *in with batch k of seqs (the same array and order batch_plan saw). */
void batch_pack(bert_packer *p, const bert_seq *seqs, int k, bert_input *in);
void batch_free(bert_packer *p);

/* An error of bert_forward on batch k (B sequences) restated for the
 * caller: "sequence I, token T: ..." with I the caller's index. Returns -1. */
int batch_error(const bert_packer *p, int k, int B, const char *e, char *err, size_t errlen);

/* Encode n sequences in batches of at most budget tokens (sorted by length)
 * and copy each one's hidden state after nlayers layers (-1: all) into
 * out[i] ([seqs[i].len][hidden], allocated by the caller). -1 with err
 * naming the sequence index on a forward error. */
int bert_encode_seqs(bert_model *m, bert_acts *a, bert_packer *p, const bert_seq *seqs, int n, size_t budget,
                     int nlayers, float *const *out, char *err, size_t errlen);

#endif
