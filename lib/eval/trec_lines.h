/* trec_lines.h: what the readers of TREC files (trec.c, qrels.c, zscore.c)
 * share: one line iterator with the comment/blank-line rules of trec.h, the
 * number readers, buffers; and scratch arrays. Internal to lib/eval. */
#ifndef OTC_TREC_LINES_H
#define OTC_TREC_LINES_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "eval/trec.h"

typedef struct {
  const char *p, *end;      /* the rest of the buffer; *end is a NUL */
  const char *name;         /* the file, for messages */
  uint64_t line;            /* 1-based number of the line last returned */
  char *err;
  size_t errlen;
} trec_lines;

/* The next line with fields (blank and '#' lines skipped), split into up to
   maxf tokens; *nf: the number of fields (may exceed maxf). 1, 0 at the end,
   -1 with the error set (a NUL byte). */
int trec_next_line(trec_lines *L, const char **tok, uint32_t *tlen, int maxf, int *nf);
/* "NAME: line N: " + message into L's error buffer; returns -1. */
int trec_line_error(trec_lines *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An integer field: 0, -1 (not an integer), -2 (|v| > TREC_MAX_GRADE).
   compat: atol's reading (the leading digits, 0 if none). */
int trec_parse_int(const char *p, uint32_t n, int compat, long *out);
/* A real field: strict (a whole finite number) or atof (compat). */
int trec_parse_real(const char *p, uint32_t n, int compat, double *out);

uint64_t trec_hash_bytes(const char *p, size_t n, uint64_t seed);
/* A scratch array p of *cap elements of sz bytes, grown to hold n (kept
   from topic to topic by the evaluator and the preference forms). */
void *trec_grow(void *p, size_t *cap, size_t n, size_t sz);
trec_buf *trec_add_buf(trec_buf **bufs, size_t *n, const trec_buf *b);

#endif
