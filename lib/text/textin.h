/* text/textin.h: text as the tokenizer reads it: lines of a file
 * descriptor, TSV layouts, and the UTF-8 rules for ids, languages and texts.
 *
 * Lines end in LF (the last may lack it); a CR before the LF is removed; a
 * line may hold NUL bytes; memory is the longest line, not the input.
 * Layouts: id<TAB>text (the text is everything after the first TAB),
 * id<TAB>lang<TAB>text, id<TAB>src<TAB>tgt; with line_ids the id column is
 * absent and the id is the 1-based line number.
 *
 * UTF-8: an id or language must be non-empty (ids) valid UTF-8 without NUL;
 * a text must be valid UTF-8 unless `replace` is set, when each maximal
 * invalid subpart counts as U+FFFD. `stored` is the text as a record stores
 * it: the text itself when valid, else a copy with U+FFFD for invalid bytes
 * and without NUL bytes (record strings exclude NUL).
 *
 * Errors: -1 with a message (without the place: the caller prefixes
 * "FILE: line N: "); nothing here prints or exits. */
#ifndef OTC_TEXTIN_H
#define OTC_TEXTIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct line_reader line_reader;

/* Read lines from fd; prefix (nprefix bytes, may be 0) are bytes already
 * read from it (a sniffed header). The reader does not close fd. */
line_reader *lr_new(int fd, const char *name, const char *prefix, size_t nprefix);
void lr_free(line_reader *r);
/* The next line without its LF (and CR before it): 1, 0 at the end, -1 on
 * a read error (message in err naming the input). Valid until the next call. */
int lr_next(line_reader *r, const char **line, size_t *len, char *err, size_t errlen);
uint64_t lr_lineno(const line_reader *r); /* lines returned so far */
const char *lr_name(const line_reader *r);

typedef enum { TI_TEXT, TI_LANG_TEXT, TI_PAIR } ti_layout;

typedef struct {
  const char *id, *lang; /* lang NULL when unknown */
  size_t idlen, langlen;
  int ntext;             /* 1, or 2 for pairs (src, tgt) */
  const char *text[2];
  size_t len[2];
  const char *stored[2]; /* after ti_check: the text to store (see above) */
  size_t stored_len[2];
  char idbuf[24];        /* the line number when line_ids */
} text_item;

/* Split a line into it (pointing into line). -1 with "expected id<TAB>text
 * (no TAB)"-style messages. lang: the language for every item (NULL:
 * none, or the column with TI_LANG_TEXT). */
int ti_split(ti_layout layout, int line_ids, const char *lang, const char *line, size_t len, uint64_t lineno,
             text_item *it, char *err, size_t errlen);

/* UTF-8 rules; buffers for repaired texts, reused across calls. */
typedef struct {
  int replace;
  unsigned char *fix[2];
  size_t cap[2];
} ti_checker;
void ti_checker_free(ti_checker *c);
/* Check it's id, language and texts; fill it->stored. The message names the
 * field ("invalid UTF-8 in the text at byte 3 of it"). */
int ti_check(ti_checker *c, text_item *it, char *err, size_t errlen);

#endif
