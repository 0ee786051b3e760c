/* perturb.h: seeded discrete noise on text (typos, dictionary code-switching,
 * word drop, word swap), the data side of robustness experiments.
 *
 * The noise model (the manual of bin/perturb.c states it for users):
 *
 * Words. The text is split at whitespace (ASCII space, tab, CR, LF, VT, FF and
 * the Unicode spaces U+00A0 U+1680 U+2000-U+200A U+2028 U+2029 U+202F U+205F
 * U+3000). Each whitespace-free run is a word; its leading and trailing
 * punctuation is peeled off and left in place, the rest is the word's core.
 * Every noise type works on cores, in code points, so any UTF-8 text is safe.
 * Scripts written without spaces (Chinese, Japanese, Thai) therefore give one
 * long "word" per run.
 *
 * Order: code-switching, then typos (not on switched words), then word drop,
 * then word swap. Each noise type draws from its own random stream, seeded
 * from (seed, record key, noise type), so changing one rate never changes
 * which words another noise type touches, and a record's noise depends only
 * on the seed and its key (its id, by default), not on its position or on
 * batching.
 */
#ifndef OTC_PERTURB_H
#define OTC_PERTURB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Typo kinds (bit mask). */
enum {
  PERTURB_INSERT = 1,
  PERTURB_DELETE = 2,
  PERTURB_SUBSTITUTE = 4,
  PERTURB_SWAP = 8,
  PERTURB_KEYBOARD = 16,
  PERTURB_ALL_TYPOS = 31
};

/* A bilingual dictionary: word -> translations, in file order. */
typedef struct perturb_dict perturb_dict;

/* Load "src<TAB>tgt" or "src<SPACE>tgt" lines (MUSE, FreeDict): a line with a
 * TAB splits at its first TAB (so a translation may contain spaces), any other
 * line at its first space. Column 1 maps to column 2; reverse maps 2 -> 1.
 * Duplicate pairs are kept once. Empty lines and lines starting with '#' are
 * skipped. NULL + "FILE: line N: message" in err on error. */
perturb_dict *perturb_dict_load(const char *path, bool reverse, char *err, size_t errlen);
void perturb_dict_free(perturb_dict *d);
size_t perturb_dict_words(const perturb_dict *d);
/* Translations of a word (exact bytes); returns their count (0 if absent). */
size_t perturb_dict_lookup(const perturb_dict *d, const char *w, size_t len, const char *const **out);

typedef struct {
  double typo_rate;    /* per word of >= 3 code points: probability of one typo */
  double switch_rate;  /* per word found in dict: probability of replacement */
  double drop_rate;    /* per word: probability of deletion (one word always stays) */
  double swap_rate;    /* per adjacent pair, left to right: probability of exchange */
  unsigned typo_kinds; /* PERTURB_* mask; 0 means all */
  const perturb_dict *dict;
  uint64_t seed;
} perturb_opts;

typedef struct {
  uint64_t words, typos, switched, dropped, swapped;
} perturb_stats;

/* Growable output buffer (NUL-terminated after each call). */
typedef struct {
  char *buf;
  size_t len, cap;
} perturb_buf;
void perturb_buf_free(perturb_buf *b);

/* Record keys: FNV-1a of the id bytes (the default), mixed with a variant
 * number for the K candidates of --worst-of. */
uint64_t perturb_key_of_id(const char *id, size_t len);
uint64_t perturb_key_variant(uint64_t key, uint64_t variant);

/* Apply the noise to text[0..len) into out (replaced, not appended).
 * Returns 0, or -1 if text is not valid UTF-8 (*bad = byte offset).
 * stats (optional) is incremented. */
int perturb_text(const perturb_opts *o, uint64_t key, const char *text, size_t len, perturb_buf *out,
                 perturb_stats *stats, size_t *bad);

/* Parse "insert,delete,substitute,swap,keyboard" (or "all") into a mask;
 * -1 on an unknown name. */
int perturb_parse_kinds(const char *s);

/* The QWERTY neighbours of an ASCII letter or digit (lower case), as a
 * NUL-terminated string; "" for other bytes. */
const char *perturb_keyboard_neighbours(int c);

/* One TSV line: id<TAB>text (fields = 2, text_field = 1), id<TAB>lang<TAB>text
 * (3, 2) or id<TAB>src<TAB>tgt (3, 1); `names` says them in messages ("id,
 * text"). The key is the id's (or, with key_by_index, lineno - 1). */
typedef struct {
  int fields, text_field, key_by_index;
  const char *names;
} perturb_tsv;

/* Perturb the text field of line[0..len) (its line ending included: the
 * output line ends with CRLF when the input's did, else with LF) into out,
 * the other fields as they are.
 * lineno counts from 1. -1 + "line N: ..." on a wrong field count, an
 * empty id or invalid UTF-8. */
int perturb_tsv_line(const perturb_opts *o, const perturb_tsv *t, const char *line, size_t len, uint64_t lineno,
                     perturb_buf *out, perturb_stats *stats, char *err, size_t errlen);

#endif
