/* stream_cli.c: the record stream's errors as program conventions
 * (cli/stream_cli.h). */
#include "cli/stream_cli.h"
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <zstd.h>

rec_reader *rec_open_or_die(const char *path) {
  char err[1024];
  rec_reader *r = rec_open_path(path, err, sizeof err);
  if (!r) die("%s", err);
  return r;
}

rec_reader *rec_open_expect_any(const char *path, const char *const *records) {
  char err[1024];
  rec_reader *r = rec_open_expect_path(path, records, err, sizeof err);
  if (!r) die("%s", err);
  return r;
}

rec_reader *rec_open_expect(const char *path, const char *record) {
  const char *list[2] = {record, NULL};
  return rec_open_expect_any(path, list);
}

bool rec_read_or_die(rec_reader *r, rec_record *out) {
  int rc = rec_read(r, out);
  if (rc < 0) die("%s", rec_error(r));
  return rc == 0;
}

rec_writer *rec_writer_or_die(const char *path, const rec_schema *s, const rec_write_opts *o) {
  rec_writer *w = rec_writer_path(path, s, o);
  if (!w) die("%s", rec_writer_error(NULL));
  return w;
}

void rec_write_or_die(rec_writer *w) {
  if (rec_write(w) != 0) rec_writer_fail(w, rec_writer_error(w));
}

void rec_writer_fail(rec_writer *w, const char *msg) {
  int e = rec_writer_errno(w);
  char m[1024];
  snprintf(m, sizeof m, "%s", msg); /* msg may live in the writer */
  rec_writer_abort(w);
  if (e == EPIPE) exit(OTC_EXIT_OK);
  die("%s", m);
}

void rec_writer_close_or_die(rec_writer *w) {
  if (rec_writer_close(w) == 0) return;
  if (rec_writer_errno(NULL) == EPIPE) exit(OTC_EXIT_OK);
  die("%s", rec_writer_error(NULL));
}

int rec_parse_zstd_level(const char *arg) {
  if (!arg) return 3;
  return (int)parse_long("--zstd", arg, 1, ZSTD_maxCLevel() < 19 ? ZSTD_maxCLevel() : 19);
}
