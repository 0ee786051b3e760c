/* unicode.h: the Unicode operations the tokenizer needs, on top of the
 * generated tables (unicode_tables.h, from the UCD by scripts/gen-unicode-tables):
 * UTF-8 decoding with validation, full lowercase mapping (CPython str.lower
 * semantics, Final_Sigma included), full canonical decomposition with
 * canonical ordering (NFD). */
#ifndef OTC_UNICODE_H
#define OTC_UNICODE_H

#include <stddef.h>
#include <stdint.h>
#include "text/unicode_tables.h"

#define UC_REPLACEMENT 0xFFFDu

/* Decode one code point from s[0..n) (n >= 1). Returns its length in bytes
 * (1-4) and stores the code point; returns 0 if the bytes at s do not start a
 * valid UTF-8 sequence (overlong, surrogate, > U+10FFFF, truncated, stray
 * continuation). *bad_len then holds the length of the maximal invalid
 * subpart (>= 1), which --replace maps to one U+FFFD. */
size_t uc_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, size_t *bad_len);
/* Encode cp (< 0x110000) into out (4 bytes room); returns the length. */
size_t uc_utf8_encode(uint32_t cp, unsigned char *out);
/* Byte offset of the first invalid byte of s, or n if s is valid UTF-8. */
size_t uc_utf8_first_invalid(const unsigned char *s, size_t n);
/* Copy s to out with each maximal invalid subpart replaced by U+FFFD (the
 * Unicode "best practice"); out needs room for 3 * n bytes. Returns the length. */
size_t uc_utf8_replace(const unsigned char *s, size_t n, unsigned char *out);

/* Full lowercase mapping of cp outside the Final_Sigma context (U+03A3 maps
 * to U+03C3 here; see uc_lower_sigma_is_final). Writes up to UC_MAX_LOWER
 * code points, returns the count. */
int uc_lower_full(uint32_t cp, uint32_t *out);
/* CPython's Final_Sigma test for the capital sigma at position i of s[0..n):
 * preceded by a cased letter (skipping case-ignorable ones) and not followed
 * by one (skipping case-ignorable ones). */
int uc_lower_sigma_is_final(const uint32_t *s, size_t n, size_t i);

/* Full canonical decomposition of cp (Hangul algorithmically). Writes up to
 * UC_MAX_DECOMP code points, returns the count (1 when cp does not decompose). */
int uc_decompose(uint32_t cp, uint32_t *out);
/* Canonical ordering in place: stable sort of every run of non-starters by
 * combining class (the last step of NFD). */
void uc_canonical_order(uint32_t *s, size_t n);

#endif
