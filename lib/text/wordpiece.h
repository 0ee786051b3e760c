/* wordpiece.h: BERT tokenization, token for token as Google's tokenization.py
 * (FullTokenizer: BasicTokenizer then WordpieceTokenizer), with byte offsets.
 *
 * Per text: (1) drop U+0000, U+FFFD and Cc/Cf characters other than TAB, LF,
 * CR (their neighbours join); (2) split at whitespace (Zs, TAB/LF/CR, and what
 * Python's str.split() also splits on: U+2028, U+2029); every character of
 * Google's CJK ranges is a token of its own; (3) lower mode only, per
 * whitespace token: full lowercase (Final_Sigma by context), NFD, drop Mn;
 * (4) every punctuation character (P*, ASCII 33-47 58-64 91-96 123-126) is a
 * word of its own; (5) WordPiece per word: a word of more than max_word_chars
 * code points is [UNK]; else greedy longest-match-first pieces, continuation
 * pieces prefixed "##"; if some position matches nothing the whole word is
 * one [UNK]. Text that looks like "[CLS]" is ordinary text.
 *
 * Invalid UTF-8 never reaches the rules: each maximal invalid subpart counts
 * as U+FFFD, which step (1) drops (callers that must reject invalid input
 * check it first with uc_utf8_first_invalid).
 *
 * No global state: one wp_tokenizer per thread; no output, no exit. */
#ifndef OTC_WORDPIECE_H
#define OTC_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "text/vocab.h"

#define WP_DEFAULT_MAX_WORD_CHARS 200 /* Google's max_input_chars_per_word (Hugging Face: 100) */

typedef struct {
  int lower;              /* uncased vocabularies: lowercase, NFD, drop Mn */
  size_t max_word_chars;  /* 0 = WP_DEFAULT_MAX_WORD_CHARS */
} wp_options;

typedef struct wp_tokenizer wp_tokenizer;

/* The tokenizer borrows v (keep it alive). NULL with a message in err when
 * the vocabulary lacks [UNK], [CLS] or [SEP]. o may be NULL (cased, 200). */
wp_tokenizer *wp_new(const vocab *v, const wp_options *o, char *err, size_t errlen);
void wp_free(wp_tokenizer *t);
const vocab *wp_vocab(const wp_tokenizer *t);
uint32_t wp_unk_id(const wp_tokenizer *t);
uint32_t wp_cls_id(const wp_tokenizer *t);
uint32_t wp_sep_id(const wp_tokenizer *t);

/* Output of one text: ids and, when asked, each token's byte span
 * [offsets[2k], offsets[2k+1]) in the text ([CLS]/[SEP]: [0, 0]). A piece
 * that covers part of a character's decomposition (lower mode) gets that
 * character's whole span; a dropped character belongs to no token. The
 * arrays are reused across calls; wp_tokens_free releases them. */
typedef struct {
  uint32_t *ids;
  uint32_t *offsets;
  size_t n, cap;
  int cut; /* set by wp_encode / tok_encode: the text had more pieces than max_len kept */
} wp_tokens;
void wp_tokens_free(wp_tokens *t);

/* [CLS] + pieces of text[0..len) + [SEP] into out (replacing its content).
 * max_len > 0 truncates to max_len ids including [CLS] and [SEP] (pieces
 * beyond it are dropped, and out->cut says so; max_len must be >= 2); 0 = no
 * limit. Tokenization stops after the first word past the limit (so that a
 * text of exactly max_len ids is not counted as cut). */
void wp_encode(wp_tokenizer *t, const char *text, size_t len, size_t max_len, int want_offsets, wp_tokens *out);
/* Only the pieces (no [CLS]/[SEP]), appended to out; stops once out->n >=
 * limit after a word (0 = no limit); the caller truncates. */
void wp_tokenize(wp_tokenizer *t, const char *text, size_t len, int want_offsets, size_t limit, wp_tokens *out);

/* Usage counts for vocabulary pruning: when set (an array of vocab_size
 * counters, zeroed by the caller), every piece the greedy matcher takes is
 * counted, including the pieces of a word that ends as [UNK]. Keeping exactly
 * the counted pieces makes the pruned vocabulary tokenize this text as the
 * full one does (see vocab_prune). NULL turns counting off. */
void wp_count_pieces(wp_tokenizer *t, uint64_t *counts);

/* Pieces of ids, separated by single spaces, into *buf (NUL-terminated,
 * grown with xrealloc; *cap its size); returns the length. An id outside the
 * vocabulary is written as "[?ID]" and counted in *bad (may be NULL). */
size_t wp_decode(const vocab *v, const uint32_t *ids, size_t n, char **buf, size_t *cap, size_t *bad);
/* The same over any vocabulary: piece(ctx, id, &len) names the ids below nv
 * (tok_decode uses it for SentencePiece ids). */
typedef const char *wp_piece_fn(const void *ctx, uint32_t id, size_t *len);
size_t wp_join_pieces(wp_piece_fn *piece, const void *ctx, size_t nv, const uint32_t *ids, size_t n, char **buf,
                      size_t *cap, size_t *bad);

/* Vocabulary pruning: the new vocabulary is the special tokens [PAD] [UNK]
 * [CLS] [SEP] [MASK] (those present, in that order) followed by every id with
 * counts[id] >= min_count, in old id order. Fills new_to_old (size: returned
 * count) and old_to_new (vocab_size entries, UINT32_MAX = dropped).
 *
 * Why the counted text keeps its pieces (min_count 1): the pruned set V' is a
 * subset of V that holds every piece the greedy matcher took on that text.
 * At each position the full vocabulary takes the longest prefix found in V;
 * it is in V', and no longer prefix is (it would be in V), so V' takes the
 * same piece; where V had no prefix at all V' has none either, so the same
 * words become [UNK]. This needs the pieces taken inside words that ended as
 * [UNK]: without them V' could find another path through such a word. Other
 * text may need dropped pieces and then gets shorter pieces or [UNK]. */
size_t vocab_prune(const vocab *v, const uint64_t *counts, uint64_t min_count, uint32_t *new_to_old,
                   uint32_t *old_to_new);

#endif
