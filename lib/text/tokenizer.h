/* text/tokenizer.h: one tokenizer over the two vocabularies a model folder
 * may hold, with the ids the model's embedding rows use:
 *
 *  - WordPiece (vocab.txt: BERT, mBERT, ColBERT): wordpiece.h; a text is
 *    [CLS] pieces... [SEP]; ids are vocab.txt line numbers.
 *  - SentencePiece in XLM-R's layout (sentencepiece.bpe.model, or
 *    tokenizer.model): pieces from the sentencepiece library (spm.h), ids
 *    as fairseq and Hugging Face's XLMRobertaTokenizer number them:
 *    <s> 0, <pad> 1, </s> 2, <unk> 3, the model's piece k (k >= 3) is
 *    k + 1 (the fairseq offset), <mask> is size + 1; vocab_size is the
 *    model's piece count + 2 (250,002 for XLM-R's 250,000 pieces). A text
 *    is <s> pieces... </s>. The model must have XLM-R's special pieces
 *    (<unk> 0, <s> 1, </s> 2 in trainer_spec); another layout is refused.
 *
 * Both give byte offsets of each token in the input ([0,0] for the begin
 * and end tokens), truncation to max_len ids (begin and end included),
 * usage counts for pruning and pruned vocabularies that tokenize their
 * text as the full one (wordpiece.h: vocab_prune; spm.h: spm_subset).
 *
 * A tokenizer is used by one thread at a time (WordPiece keeps scratch
 * buffers). Errors: NULL / -1 with a message in err; no output, no exit. */
#ifndef OTC_TOKENIZER_H
#define OTC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "text/wordpiece.h"

typedef enum { TOK_WORDPIECE = 1, TOK_XLMR = 2 } tok_kind;

typedef struct {
  int lower;             /* WordPiece: uncased vocabularies (lowercase, NFD, drop Mn) */
  size_t max_word_chars; /* WordPiece: 0 = WP_DEFAULT_MAX_WORD_CHARS */
} tok_options;

typedef struct tok_tokenizer tok_tokenizer;

/* The vocabulary file of a model folder, in this order: vocab.txt,
 * sentencepiece.bpe.model, tokenizer.model (the first that exists). Writes
 * its path; -1 with err naming the folder when there is none or it is empty. */
int tok_find(const char *dir, char *path, size_t pathlen, tok_kind *kind, char *err, size_t errlen);

/* Open a vocabulary file of the given kind (o may be NULL). */
tok_tokenizer *tok_open(const char *path, tok_kind kind, const tok_options *o, char *err, size_t errlen);
/* Open a model folder's vocabulary (tok_find). A WordPiece folder whose
 * tokenizer_config.json says "do_lower_case": true (bert-base-uncased,
 * ColBERT checkpoints made from it) is lower-cased even without o->lower. */
tok_tokenizer *tok_open_dir(const char *dir, const tok_options *o, char *err, size_t errlen);
void tok_free(tok_tokenizer *t);

tok_kind tok_kind_of(const tok_tokenizer *t);
int tok_lower(const tok_tokenizer *t); /* WordPiece lower-cases (option or tokenizer_config.json) */
const char *tok_path(const tok_tokenizer *t);
/* SHA-256 of the vocabulary file (the stream's `vocab` metadata). */
const char *tok_sha256(const tok_tokenizer *t);
/* Ids: 0..tok_size-1. */
uint32_t tok_size(const tok_tokenizer *t);
uint32_t tok_begin_id(const tok_tokenizer *t); /* [CLS] or <s> */
uint32_t tok_end_id(const tok_tokenizer *t);   /* [SEP] or </s> */
/* "a,b": the begin and end ids, ascending (the `special_ids` metadata). */
const char *tok_special_ids(const tok_tokenizer *t);
/* The piece of an id (id < tok_size), NUL-terminated. */
const char *tok_piece(const tok_tokenizer *t, uint32_t id, size_t *len);

/* begin + pieces of text[0..len) + end into out (its content replaced);
 * max_len > 0 keeps at most max_len ids (>= 2), the end id last. Offsets
 * when want_offsets. Invalid UTF-8: WordPiece drops it (U+FFFD, see
 * wordpiece.h); SentencePiece does what the library does. */
int tok_encode(tok_tokenizer *t, const char *text, size_t len, size_t max_len, int want_offsets, wp_tokens *out,
               char *err, size_t errlen);

/* Usage counts for pruning (tok_size counters, zeroed by the caller):
 * every later tok_encode counts the pieces it takes (WordPiece: also inside
 * words that end as [UNK]); NULL stops counting. */
void tok_count(tok_tokenizer *t, uint64_t *counts);

/* Pieces of ids separated by single spaces into *buf (grown; see wp_decode);
 * an id outside the vocabulary is "[?ID]", counted in *bad. */
size_t tok_decode(const tok_tokenizer *t, const uint32_t *ids, size_t n, char **buf, size_t *cap, size_t *bad);

/* Prune to the pieces counted at least min_count times (and the special
 * tokens): write DIR/vocab.txt (WordPiece) or DIR/sentencepiece.bpe.model
 * (DIR/tokenizer.model when that was the source's name), and DIR/idmap.tsv
 * (`old_id<TAB>new_id` per new id, in new id order), each to a temporary
 * name renamed when complete. DIR is created if needed; a DIR that holds a
 * model (config.json or model.safetensors) is refused: a model's
 * vocabulary is never overwritten. *kept = new vocabulary size. */
int tok_prune(const tok_tokenizer *t, const uint64_t *counts, uint64_t min_count, const char *dir, size_t *kept,
              char *err, size_t errlen);

#endif
