/* cli/stream_cli.h: the record stream for programs. The stream layer
 * returns errors (stream/rec.h); these wrappers turn them into the program
 * conventions of cli.h: "PROG: message" on stderr and exit 1, or exit 0
 * quietly when a write fails with EPIPE (the downstream chose to stop
 * reading: `rec dump big.rec | head`), so a main stays short. Included by
 * cli/cli.h. */
#ifndef OTC_STREAM_CLI_H
#define OTC_STREAM_CLI_H

#include <stdbool.h>
#include <stdnoreturn.h>

#include "stream/rec.h"

/* rec_open_path; "-" is standard input (named "stdin" in messages). */
rec_reader *rec_open_or_die(const char *path);
/* Also check the record type and layout:
 * "PROG: FILE: expected a 'tokens' stream, got 'text'". */
rec_reader *rec_open_expect(const char *path, const char *record);
/* As rec_open_expect, but any of several record types (NULL-terminated). */
rec_reader *rec_open_expect_any(const char *path, const char *const *records);
bool rec_read_or_die(rec_reader *r, rec_record *out); /* true = record, false = clean end */

rec_writer *rec_writer_or_die(const char *path, const rec_schema *s, const rec_write_opts *o);
/* On failure: EPIPE ends the program quietly with status 0; any other error
 * abandons the writer (its temporary file removed) and dies with the message. */
void rec_write_or_die(rec_writer *w);
void rec_writer_close_or_die(rec_writer *w);
/* After a library call that wrote to w failed with message msg (a bad input
 * line, a damaged input stream, a failed write): a closed pipe (EPIPE) ends
 * the program quietly with status 0; otherwise the writer is abandoned (its
 * temporary removed, no end frame) and the program dies with msg. */
noreturn void rec_writer_fail(rec_writer *w, const char *msg);

/* The value of --zstd[=LEVEL]: NULL (no value) means level 3; otherwise an
 * integer 1..19, or a usage error naming the option. */
int rec_parse_zstd_level(const char *arg);

#endif
