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
 * Errors: nothing here prints or exits. Reader/writer functions return 0 on
 * success, 1 at a clean end (rec_read only), -1 (or NULL) on error;
 * rec_error() / rec_writer_error() then say what and where, e.g.
 * "data.rec: record 12 (byte 4096): CRC-32C mismatch in record frame", and
 * rec_writer_errno() gives the system error behind a failed write (EPIPE: the
 * reader went away). Programs call the *_or_die() wrappers of
 * cli/stream_cli.h, which print the message prefixed with the program name
 * and exit 1, or exit 0 quietly on EPIPE.
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
  uint64_t offset;          /* byte offset of its frame (in the decompressed stream) */
  rec_value v[REC_MAX_FIELDS];
} rec_record;

static inline bool rec_has(const rec_record *r, int field) {
  return field >= 0 && r->v[field].data != NULL;
}
/* Typed accessors. A field number out of range or of another type (a
 * programming error: rec_schema_expect at open rules it out for every field
 * of a builtin record type) gives NULL and count 0, NaN, or 0; so does an
 * absent field. */
const char *rec_str(const rec_record *r, int field, size_t *len);
const uint32_t *rec_u32(const rec_record *r, int field, size_t *count);
const float *rec_f32(const rec_record *r, int field, size_t *count);
double rec_f64_scalar(const rec_record *r, int field);
uint32_t rec_u32_scalar(const rec_record *r, int field);

/* ---- reading ---- */
typedef struct rec_reader rec_reader;

/* Open a stream on a file descriptor (name is used in messages; "-" or NULL
 * is shown as "stdin", the one name for standard input in every message). Reads the header and the schema frame; zstd input is detected and
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
const char *rec_reader_name(const rec_reader *r); /* as in messages: the path, or "stdin" */
uint64_t rec_reader_count(const rec_reader *r);  /* records read so far */
uint64_t rec_reader_offset(const rec_reader *r); /* byte offset in the (decompressed) stream */
bool rec_reader_compressed(const rec_reader *r);
/* Validation options: reject NaN/Inf in float fields (default on). */
void rec_reader_allow_nonfinite(rec_reader *r, bool allow);
void rec_close(rec_reader *r);

/* Hostile sizes: what a record holds is bounded by its frame (the reader
 * checks every array and per-record dimension against the frame length), but
 * what a consumer derives from it is not: an n x m cost matrix for a pair of
 * n and m tokens, a buffer per record of a stream dimension. Before
 * allocating such a thing, check it here: 0 if esize times the product of the
 * nfactors factors is at most `limit` bytes (0 = REC_MAX_FRAME, the largest
 * array a record could hold: what could not be written out as a field),
 * else -1 with "FILE: record 3 (byte 4096): WHAT of 40000 x 40000 x 4 bytes
 * = 6400000000 bytes is more than the limit of 1073741824 bytes" in err. The
 * product is overflow-checked; a zero factor always passes. */
int rec_size_check(const rec_reader *r, const rec_record *rec, const char *what, const uint64_t *factors, int nfactors,
                   size_t esize, uint64_t limit, char *err, size_t errlen);

/* rec_open_path, then rec_schema_expect: the record type is one of
 * `records` (NULL-terminated) with the builtin layout. NULL with
 * "FILE: expected a 'tokens' stream, got 'text'" (or the reader's message). */
rec_reader *rec_open_expect_path(const char *path, const char *const *records, char *err, size_t errlen);

/* ---- writing ---- */
typedef struct rec_writer rec_writer;

typedef struct {
  int zstd_level;           /* 0 = no compression; 1..19 */
} rec_write_opts;

/* Write a stream with this schema (copied) to fd. The schema frame is written
 * with the first record (or at close), so stream dimensions left UNSET are
 * taken from the first record. NULL on error (an invalid schema or zstd
 * level), with the message in rec_writer_error(NULL). */
rec_writer *rec_writer_fd(int fd, const char *name, const rec_schema *s, const rec_write_opts *o);
/* Path "-" = stdout; a path ending in ".zst" turns compression on (level 3
 * unless opts say otherwise). Files are written to a temporary name and
 * renamed by rec_writer_close. NULL on error: rec_writer_error(NULL) says
 * why ("cannot create 'F': ..."), rec_writer_errno(NULL) the errno. */
rec_writer *rec_writer_path(const char *path, const rec_schema *s, const rec_write_opts *o);
/* The schema, to set metadata and dims before the first record. Called after
 * the first record (too late: the schema frame is out) it fails the writer
 * (the next rec_write or close returns -1 saying so) and returns a copy. */
rec_schema *rec_writer_schema(rec_writer *w);

/* Build the next record: set fields, then rec_write. Data is copied at
 * rec_write. A misuse (no such field, a put of another type) is reported by
 * that rec_write, which then writes nothing. */
void rec_put_str(rec_writer *w, int field, const char *s, size_t len);
/* shape has the field's rank entries; checked against fixed dims and against
 * other fields sharing a per-record dimension. */
void rec_put(rec_writer *w, int field, const void *data, const uint32_t *shape);
void rec_put_u32_scalar(rec_writer *w, int field, uint32_t v);
void rec_put_f64_scalar(rec_writer *w, int field, double v);
/* Copy every field of `in` whose name exists in the writer's schema with the
 * same type and rank (how a filter passes fields through). */
void rec_put_from(rec_writer *w, const rec_record *in);
/* Write rec, just read from r, to w: its frame as it is when w's layout is
 * r's (metadata may differ), nothing else was put for this record and r
 * checked what w would (finite floats); else as rec_put_from + rec_write.
 * The fast way for a filter to pass records through (rec cat is about as
 * fast as the pipe). 0, or -1 as rec_write. */
int rec_copy_record(rec_writer *w, const rec_reader *r, const rec_record *rec);
/* Frame and write the record; -1 on error (missing required field, shape
 * mismatch, misuse, write error) with the message in rec_writer_error. After
 * a write error (rec_writer_errno != 0) every later call fails too. */
int rec_write(rec_writer *w);
/* The message of the last failure; w = NULL: of the last failed
 * rec_writer_fd/rec_writer_path/rec_writer_close in this thread. */
const char *rec_writer_error(const rec_writer *w);
/* The errno of a failed write, fsync, close or create (EPIPE: the reader
 * stopped reading), 0 for a failure that is not a system error. */
int rec_writer_errno(const rec_writer *w);
/* Whether any writer of this process has met a closed pipe (EPIPE): the
 * downstream chose to stop reading. cli's die() then ends quietly with
 * status 0, whichever library call reported the failed write. */
int rec_epipe(void);
uint64_t rec_writer_count(const rec_writer *w);
/* Write the end frame, flush, finish zstd, rename a file into place. Frees
 * the writer in any case; on error rec_writer_error(NULL) has the message and
 * rec_writer_errno(NULL) the errno. */
int rec_writer_close(rec_writer *w);
/* Abandon: no end frame (a reader will report truncation), temp file removed. */
void rec_writer_abort(rec_writer *w);

/* By default rec_write rejects NaN/Inf in float fields, as readers do; a
 * writer of e.g. training logs may allow them (its readers must too). */
void rec_writer_allow_nonfinite(rec_writer *w, bool allow);

/* ---- helpers ---- */
/* Validate UTF-8; returns the byte offset of the first bad byte, or len if valid. */
size_t utf8_check(const char *s, size_t len);

#endif
