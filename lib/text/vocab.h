/* vocab.h: a BERT WordPiece vocabulary (vocab.txt): line k (0-based) is the
 * piece with id k, surrounding whitespace stripped (Python str.strip), as
 * Google's load_vocab reads it; when a piece occurs twice the later id wins
 * (its dict assignment overwrites). Pieces are looked up by greedy longest
 * prefix match in a double-array trie over bytes. */
#ifndef OTC_VOCAB_H
#define OTC_VOCAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct vocab vocab;

/* Load a vocab.txt. NULL on error with a message in err naming the file and
 * line (unreadable, empty, invalid UTF-8, NUL byte, too many lines). */
vocab *vocab_load(const char *path, char *err, size_t errlen);
/* The same from memory (name is used in messages). */
vocab *vocab_from_mem(const char *buf, size_t len, const char *name, char *err, size_t errlen);
void vocab_free(vocab *v);

/* Number of ids (lines of the file). */
uint32_t vocab_size(const vocab *v);
/* The piece with this id (id < vocab_size), NUL-terminated; *len its length. */
const char *vocab_piece(const vocab *v, uint32_t id, size_t *len);
/* Exact lookup: the id of the piece, or -1. */
int64_t vocab_id(const vocab *v, const char *piece, size_t len);
/* Lower-case hex SHA-256 of the file bytes (64 chars), the vocabulary's identity
 * in stream metadata (matches `sha256sum vocab.txt`). */
const char *vocab_sha256(const vocab *v);

/* Trie states: VOCAB_ROOT for a word's first piece, vocab_cont_state() for
 * "##" continuation pieces (-1 when the vocabulary has none). */
#define VOCAB_ROOT 0
int32_t vocab_cont_state(const vocab *v);
/* Longest piece p such that (state's prefix + p) is in the vocabulary and p is
 * a prefix of s[0..n): returns its id and sets *matched = |p| bytes, or returns
 * -1 (no prefix matches). */
int32_t vocab_longest(const vocab *v, int32_t state, const unsigned char *s, size_t n, size_t *matched);


#endif
