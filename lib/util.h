/* util.h: the conventions every otclir program shares.
 *
 * Errors: "PROG: message" on stderr, exit 1 (OTC_EXIT_FAIL); bad usage exits 2
 * (OTC_EXIT_USAGE). stdout carries data only. SIGPIPE is ignored and a write
 * that fails with EPIPE ends the program quietly with status 0: the downstream
 * chose to stop reading (head, rec head), that is not an error of ours.
 */
#ifndef OTC_UTIL_H
#define OTC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdnoreturn.h>

#define OTC_VERSION "0.1.0"
#define OTC_EXIT_OK 0
#define OTC_EXIT_FAIL 1
#define OTC_EXIT_USAGE 2

/* Program name used in every message; set once by otc_init() from argv[0]. */
const char *otc_prog(void);

/* Call first in main(): sets the program name, ignores SIGPIPE. */
void otc_init(const char *argv0);

noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* die() with ": strerror(errno)" appended. */
noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the short usage text to stderr and exit 2. */
noreturn void die_usage(const char *usage);
/* Say what was wrong ("PROG: unexpected operand 'x'"), then the usage; exit 2. */
noreturn void die_usage_msg(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "PROG (otclir) VERSION" to stdout, exit 0. */
noreturn void print_version(void);

/* Library functions report errors into a caller's buffer rather than dying:
 * format the message into err (when non-NULL) and return -1. */
int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Overflow-checked a*b for allocation sizes; dies on overflow. */
size_t xmul(size_t a, size_t b);

/* Write all of buf to fd; EPIPE exits 0 quietly, other errors die. */
void xwrite_fd(int fd, const void *buf, size_t n);
/* Flush and check stdout (FILE*) at the end of main; EPIPE exits 0 quietly. */
void otc_close_stdout(void);
/* fwrite to stdout with the same error semantics. */
void xfwrite_stdout(const void *buf, size_t n);

/* Parse helpers for option arguments: die_usage-style errors naming the option. */
long parse_long(const char *opt, const char *arg, long min, long max);
double parse_double(const char *opt, const char *arg, double min, double max);

/* The shortest "%.Ng" that reads back as exactly x (strtod / strtof): how
 * every program prints a number meant to round-trip. buf needs 32 bytes. */
void fmt_double(char *buf, size_t n, double x);
void fmt_float(char *buf, size_t n, float x);

/* Default thread count: the number of online cores. */
int otc_ncores(void);
/* Set the thread count used by OpenBLAS (and our own loops read it back). */
void otc_set_threads(int n);
int otc_threads(void);

/* Progress on stderr: on when stderr is a terminal or when forced (--progress). */
typedef struct {
  int enabled;
  double t0, last;
  const char *what;
} otc_progress;
void progress_init(otc_progress *p, const char *what, int force);
/* Prints at most ~4 times per second: "PROG: what: done [/ total] (rate/s)". */
void progress_update(otc_progress *p, uint64_t done, uint64_t total);
void progress_end(otc_progress *p, uint64_t done);

double now_seconds(void); /* monotonic clock */

/* Directory of shared data: $OTCLIR_SHARED, default "../shared" (relative to cwd). */
const char *otc_shared_dir(void);

/* Atomic file output: open "PATH.tmp.PID", rename over PATH on commit. */
typedef struct {
  char *path, *tmp;
  FILE *f;
} atomic_file;
FILE *atomic_open(atomic_file *af, const char *path);
void atomic_commit(atomic_file *af); /* fflush, fsync, fclose, rename; dies on error */
void atomic_abort(atomic_file *af);  /* remove the temporary */

#endif
