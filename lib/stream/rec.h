/* rec.h: the otclir record stream, the data plane every filter reads on stdin
 * and writes on stdout. The byte format is specified in schemas/README.md;
 * this header is the C interface.
 *
 * A stream is: an 8-byte file header (magic "OTCLIR\0" + major version byte),
 * a schema frame (record type, fields, dimensions, metadata), record frames,
 * and an end frame carrying the record count. Every frame has a 16-byte
 * header (kind, payload length, payload CRC-32C, header CRC-32C) and a payload
 * padded to 8 bytes, so numeric arrays are 8-byte aligned and usable in place.
 * Whole streams may be zstd-compressed; readers detect that by magic.
 *
 * Errors: reader/writer functions return 0 on success, 1 at a clean end
 * (rec_read only), -1 on error; rec_error() then says what and where, e.g.
 * "data.rec: record 12 (byte 4096): CRC-32C mismatch in record frame".
 * Programs usually call the *_or_die() wrappers, which print that message
 * prefixed with the program name and exit 1.
 */
#ifndef OTC_REC_H
#define OTC_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stream/crc32c.h"
#include "stream/schema.h"

#define REC_MAGIC "OTCLIR"       /* 6 bytes, then NUL, then the major version byte */
#define REC_VERSION_MAJOR 1
#define REC_VERSION_MINOR 0

/* ---- records ---- */
/* A record view: pointers into the reader's frame buffer (valid until the
 * next rec_read) or, when writing, into caller memory (valid until rec_write).
 * Read strings are valid UTF-8 without NUL bytes and are NUL-terminated in
 * place, so they can be used as C strings. */
typedef struct {
  const void *data;         /* NULL when the (optional) field is absent */
  size_t count;             /* elements (product of shape), or bytes for REC_STR */
  uint32_t shape[REC_MAX_RANK];
} rec_value;

typedef struct rec_record {
  const rec_schema *schema;
  uint64_t index;           /* 0-based record number in the stream */
  rec_value v[REC_MAX_FIELDS];
} rec_record;

static inline bool rec_has(const rec_record *r, int field) {
  return field >= 0 && r->v[field].data != NULL;
}
/* Typed accessors; die (naming the record) if the field type differs. */
const char *rec_str(const rec_record *r, int field, size_t *len);
const uint32_t *rec_u32(const rec_record *r, int field, size_t *count);
const float *rec_f32(const rec_record *r, int field, size_t *count);
double rec_f64_scalar(const rec_record *r, int field);
uint32_t rec_u32_scalar(const rec_record *r, int field);

/* ---- reading ---- */
typedef struct rec_reader rec_reader;

/* Open a stream on a file descriptor (name is used in messages: "-" for
 * stdin). Reads the header and the schema frame; zstd input is detected and
 * decompressed. NULL on error, with the message in err. */
rec_reader *rec_open_fd(int fd, const char *name, char *err, size_t errlen);
/* Open a file by path ("-" = stdin). */
rec_reader *rec_open_path(const char *path, char *err, size_t errlen);
/* Open a stream held in memory (e.g. an mmap'd file); records point into it
 * in place, no copy. The buffer must stay valid and 8-byte aligned. */
rec_reader *rec_open_mem(const void *buf, size_t len, const char *name, char *err, size_t errlen);

const rec_schema *rec_reader_schema(const rec_reader *r);
/* Next record: 0 = got one, 1 = clean end (end frame seen, count matches,
 * nothing after it), -1 = error (see rec_error). */
int rec_read(rec_reader *r, rec_record *out);
const char *rec_error(const rec_reader *r);
uint64_t rec_reader_count(const rec_reader *r);  /* records read so far */
uint64_t rec_reader_offset(const rec_reader *r); /* byte offset in the (decompressed) stream */
bool rec_reader_compressed(const rec_reader *r);
/* Validation options: reject NaN/Inf in float fields (default on). */
void rec_reader_allow_nonfinite(rec_reader *r, bool allow);
void rec_close(rec_reader *r);

/* Wrappers for programs: print "PROG: <message>" and exit 1 on any error. */
rec_reader *rec_open_or_die(const char *path);
/* Also check the record type: "PROG: FILE: expected a 'tokens' stream, got 'text'". */
rec_reader *rec_open_expect(const char *path, const char *record);
/* As rec_open_expect, but any of several record types (NULL-terminated). */
rec_reader *rec_open_expect_any(const char *path, const char *const *records);
bool rec_read_or_die(rec_reader *r, rec_record *out); /* true = record, false = clean end */

/* ---- writing ---- */
typedef struct rec_writer rec_writer;

typedef struct {
  int zstd_level;           /* 0 = no compression; 1..19 */
} rec_write_opts;

/* Write a stream with this schema (copied) to fd. The schema frame is written
 * with the first record (or at close), so stream dimensions left UNSET are
 * taken from the first record. */
rec_writer *rec_writer_fd(int fd, const char *name, const rec_schema *s, const rec_write_opts *o);
/* Path "-" = stdout; a path ending in ".zst" turns compression on (level 3
 * unless opts say otherwise). Files are written to a temporary name and
 * renamed by rec_writer_close. */
rec_writer *rec_writer_path(const char *path, const rec_schema *s, const rec_write_opts *o);
rec_schema *rec_writer_schema(rec_writer *w); /* to set metadata/dims before the first record */

/* Build the next record: set fields, then rec_write. Data is copied at rec_write. */
void rec_put_str(rec_writer *w, int field, const char *s, size_t len);
/* shape has the field's rank entries; checked against fixed dims and against
 * other fields sharing a per-record dimension. */
void rec_put(rec_writer *w, int field, const void *data, const uint32_t *shape);
void rec_put_u32_scalar(rec_writer *w, int field, uint32_t v);
void rec_put_f64_scalar(rec_writer *w, int field, double v);
/* Copy every field of `in` whose name exists in the writer's schema with the
 * same type and rank (how a filter passes fields through). */
void rec_put_from(rec_writer *w, const rec_record *in);
/* Frame and write the record; -1 on error (missing required field, shape
 * mismatch, write error) with the message in rec_writer_error. */
int rec_write(rec_writer *w);
const char *rec_writer_error(const rec_writer *w);
uint64_t rec_writer_count(const rec_writer *w);
/* Write the end frame, flush, finish zstd, rename a file into place. Frees
 * the writer in any case; on error rec_writer_error(NULL) has the message. */
int rec_writer_close(rec_writer *w);
/* Abandon: no end frame (a reader will report truncation), temp file removed. */
void rec_writer_abort(rec_writer *w);

/* Wrappers for programs. */
rec_writer *rec_writer_or_die(const char *path, const rec_schema *s, const rec_write_opts *o);
void rec_write_or_die(rec_writer *w);
void rec_writer_close_or_die(rec_writer *w);
/* By default rec_write rejects NaN/Inf in float fields, as readers do; a
 * writer of e.g. training logs may allow them (its readers must too). */
void rec_writer_allow_nonfinite(rec_writer *w, bool allow);

/* ---- helpers ---- */
/* Validate UTF-8; returns the byte offset of the first bad byte, or len if valid. */
size_t utf8_check(const char *s, size_t len);
/* Parse "--zstd[=LEVEL]" style values: NULL arg means default level 3. */
int rec_parse_zstd_level(const char *arg);

#endif
