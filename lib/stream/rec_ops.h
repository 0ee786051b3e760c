/* stream/rec_ops.h: whole-stream operations over a reader and writers
 * (`rec cat`, `head`, `count`, `check`, `shuffle`, `split`, `from-tsv`).
 * Each returns 0 or -1 with the message in err; a failed write leaves
 * rec_writer_errno(w) set (EPIPE: the reader of w went away), so a program
 * can end quietly on a closed pipe. Records are checked by the reader (CRCs,
 * layout, UTF-8, finite floats) before they are written, and where the
 * output's layout is the input's their frames are copied as they are
 * (rec_copy_record), not decoded and encoded again. */
#ifndef OTC_REC_OPS_H
#define OTC_REC_OPS_H

#include <stdio.h>

#include "stream/rec.h"

/* Read r to its clean end (every frame validated), writing nothing: 0, or
 * -1 with rec_error(r) in err. rec_reader_count(r) then has the count. */
int rec_read_all(rec_reader *r, char *err, size_t errlen);

/* Copy up to max records (UINT64_MAX: all) of r to w; with max, the rest of
 * r is not read. */
int rec_copy(rec_reader *r, rec_writer *w, uint64_t max, char *err, size_t errlen);

/* All records of r to w in a random order determined by seed alone
 * (Fisher-Yates with the otclir rng): the same input and seed give the same
 * output. The record frames are held in memory and written as they are, so
 * w must have r's layout (its metadata may differ) and check no more than r
 * (NaN/Inf). */
int rec_shuffle(rec_reader *r, rec_writer *w, uint64_t seed, char *err, size_t errlen);

/* Split r into files PREFIX-000EXT, PREFIX-001EXT, ...: with nfiles > 0,
 * nfiles files taking records round-robin (record i to file i mod nfiles);
 * else consecutive runs of per_file records per file. Every file is written
 * with schema s (r's, perhaps with metadata added) and opts. The shards stay
 * under their temporary names until all of r has been read and verified: a
 * truncated or corrupt input leaves no shard at all. On success *names
 * (malloc'd, each malloc'd) and *nnames list the files written. */
typedef struct {
  const char *prefix, *ext;  /* "shard", ".rec" */
  size_t nfiles;             /* round-robin over this many files, or 0 */
  uint64_t per_file;         /* records per file when nfiles is 0 (>= 1) */
  const rec_schema *schema;  /* of every output */
  const rec_write_opts *opts;
  bool allow_nonfinite;      /* for the writers (the reader's is set on r) */
} rec_split_opts;
int rec_split(rec_reader *r, const rec_split_opts *o, char ***names, size_t *nnames, char *err, size_t errlen);

/* TSV lines `id<TAB>lang<TAB>text` (or, with two_columns, `id<TAB>text`
 * and lang = `lang`, or absent when `lang` is NULL) to `text` records on w
 * (a writer of the builtin text schema). A trailing CR is removed. A line
 * with the wrong number of columns, an empty id, invalid UTF-8 or a NUL is
 * an error "NAME: line 2: ...". */
typedef struct {
  bool two_columns;
  const char *lang;
} rec_tsv_opts;
int rec_tsv_to_text(FILE *in, const char *name, const rec_tsv_opts *o, rec_writer *w, char *err, size_t errlen);

#endif
