/* pairs.h: the training data of distillation: `pair` streams read for a
 * student (src_ids, tgt_ids, the teacher's tgt_vecs), their fingerprint,
 * batches of consecutive pairs, and IDF marginal weights.
 *
 * A pair is usable when each side has a token besides [CLS]/[SEP] (cut = 1)
 * or any token (cut = 0); unusable pairs are skipped and counted. Usable
 * pairs are checked against the student: src ids < vocab_size, at most
 * max_position tokens, tgt_vecs of m x d values. Errors name the stream and
 * the record ("pairs.rec: record 12: ...").
 *
 * Fingerprint: a 64-bit digest of the usable pairs read (record number and
 * the bytes of src_ids, tgt_ids, tgt_vecs: CRC-32C per field, mixed by
 * splitmix64), not cryptographic: it tells a checkpoint's input from another
 * one of the same length given by mistake.
 */
#ifndef OTC_TRAIN_PAIRS_H
#define OTC_TRAIN_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "stream/rec.h"
#include "train/distill.h"

typedef struct {
  int d;          /* the student's hidden size = the teacher vectors' d */
  int vocab_size; /* src ids must be below it */
  int max_pos;    /* at most this many src tokens */
  int cut;        /* 1: [CLS]/[SEP] take no part (a side needs 3 tokens) */
} train_limits;

/* One usable pair: pointers into the reader's buffer, valid until the next read. */
typedef struct {
  const uint32_t *src, *tgt;
  size_t n, m;
  const float *vecs; /* m x d */
  uint64_t index;    /* record number in the stream */
} train_pair;

typedef struct train_input train_input;

/* A pair stream on fd (name for messages). The reader starts at the current
 * position; a regular file whose position is 0 is seekable and can be
 * rewound for several passes. NULL + message on a bad stream. */
train_input *train_input_open(int fd, const char *name, const train_limits *lim, char *err, size_t errlen);
void train_input_free(train_input *in);
int train_input_seekable(const train_input *in);
const char *train_input_name(const train_input *in);
const rec_schema *train_input_schema(const train_input *in);
/* Start a new pass at the first record (seekable inputs only). */
int train_input_rewind(train_input *in, char *err, size_t errlen);
/* The next usable pair: 1, 0 at the end, -1 on error. Unusable pairs are
 * skipped (counted when count_skips). Every usable pair read is folded into
 * the pass's fingerprint. */
int train_input_next(train_input *in, train_pair *p, int count_skips, char *err, size_t errlen);
uint64_t train_input_skipped(const train_input *in);
/* Records read in this pass (usable or not), and the fingerprint of the
 * usable pairs read in it. */
uint64_t train_input_records(const train_input *in);
uint64_t train_input_fingerprint(const train_input *in);

/* The fingerprint fold, for callers that track a subset of pairs: fp of the
 * empty sequence is 0. */
uint64_t train_fingerprint_fold(uint64_t fp, const train_pair *p, int d);

/* ---- batches ---- */

/* Consecutive pairs while their student tokens fit in max_tokens (a longer
 * pair is a batch of its own) and at most max_pairs (0: no limit). */
typedef struct {
  long max_tokens, max_pairs;
  int d;
  int B, cap;
  int *src_len, *tgt_len;
  uint32_t *ids;
  size_t N, capN;
  float *vecs, *src_w, *tgt_w;
  size_t M, capM;
  int weighted;         /* src_w/tgt_w filled (IDF) */
  uint64_t last_index;  /* record number of the last pair added */
} train_batch;

void train_batch_init(train_batch *b, int d, long max_tokens, long max_pairs);
void train_batch_free(train_batch *b);
void train_batch_clear(train_batch *b);
/* Does a pair of n student tokens still fit? */
int train_batch_fits(const train_batch *b, size_t n);
/* Copy a pair in; idf (NULL: uniform marginals) gives its weights. */
struct train_idf;
void train_batch_add(train_batch *b, const train_pair *p, const struct train_idf *idf);
/* The batch as the trainer takes it (pointers into b). */
distill_batch train_batch_view(const train_batch *b);

/* ---- IDF ---- */

/* idf(w) = ln((1 + P) / (1 + df(w))) + 1 per side, df(w) = pairs whose side
 * contains id w (counted once per pair), P = pairs. */
typedef struct train_idf {
  uint64_t pairs;
  uint64_t *df_src, *df_tgt;
  size_t nsrc, ntgt;  /* ids counted per side (src: vocab_size; tgt: grows) */
  float *idf_src, *idf_tgt;
  uint32_t *seen;
  size_t capseen;
} train_idf;

void train_idf_init(train_idf *x, int src_vocab);
void train_idf_add(train_idf *x, const train_pair *p);
/* Compute the weights from the counts (after the last add). */
void train_idf_finish(train_idf *x);
void train_idf_free(train_idf *x);
/* Weight of an id (1 for ids never counted). */
float train_idf_src(const train_idf *x, uint32_t id);
float train_idf_tgt(const train_idf *x, uint32_t id);

#endif
