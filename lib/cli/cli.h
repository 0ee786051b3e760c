/* cli/cli.h: the conventions every otclir program shares, for bin/ only
 * (library layers return errors; only programs print them and exit).
 *
 * Errors: "PROG: message" on stderr, exit 1 (OTC_EXIT_FAIL); bad usage exits 2
 * (OTC_EXIT_USAGE) after saying what was wrong and printing the usage lines.
 * stdout carries data only. SIGPIPE is ignored and a write that fails with
 * EPIPE ends the program quietly with status 0: the downstream chose to stop
 * reading (head, rec head), that is not an error of ours.
 *
 * One way to do each thing: every program describes itself once,
 *
 *   static const cli_prog prog = {"NAME", usage, manual};
 *   int main(int argc, char **argv) { cli_init(&prog, argv[0]); ... }
 *
 * with `manual` the whole --help text (also the man page, by help2man) and
 * `usage` its synopsis lines; getopt's long options end with CLI_OPTIONS_COMMON
 * and the switch with CLI_CASES_COMMON (--help, --version, anything unknown).
 * Option values go through the parsers below, which name the option and the
 * bad value: parse_long, parse_double, cli_choice, cli_seed, cli_threads.
 * The option vocabulary (one meaning per name across programs) is in
 * docs/options.md.
 */
#ifndef OTC_CLI_H
#define OTC_CLI_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdnoreturn.h>

#include "base/util.h"

typedef struct {
  const char *name;   /* the program's name, as in its usage */
  const char *usage;  /* "usage: NAME ...\n" lines */
  const char *manual; /* the full --help text */
} cli_prog;

enum { CLI_OPT_HELP = 0x7f00, CLI_OPT_VERSION };
#define CLI_OPTIONS_COMMON {"help", no_argument, 0, CLI_OPT_HELP}, {"version", no_argument, 0, CLI_OPT_VERSION}
#define CLI_CASES_COMMON             \
  case CLI_OPT_HELP: cli_help();     \
  case CLI_OPT_VERSION: cli_version(); \
  default: cli_usage()

/* Call first in main(): registers the program, sets its name for messages,
 * ignores SIGPIPE. */
void cli_init(const cli_prog *p, const char *argv0);
/* The older form (no manual registered): name and SIGPIPE only. */
void otc_init(const char *argv0);

noreturn void cli_help(void);    /* the manual on stdout, exit 0 */
noreturn void cli_version(void); /* "PROG (otclir) VERSION", exit 0 */
noreturn void cli_usage(void);   /* the usage on stderr, exit 2 */
/* "PROG: what was wrong", then the usage, exit 2. */
noreturn void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The index of arg in the NULL-terminated choices, or a usage error naming
 * the option, the value and the choices. */
int cli_choice(const char *opt, const char *arg, const char *const *choices);
/* A seed: a decimal integer in [0, 2^64-1]. */
uint64_t cli_seed(const char *opt, const char *arg);
/* --threads N: 1..4096, or 0 for all cores; sets otc_threads() and returns it.
 * Programs that multiply matrices also pass it to kern_set_threads(). */
int cli_threads(const char *opt, const char *arg);
/* An option given by its old name (kept as an alias for one release): one
 * warning on stderr naming the new one. */
void cli_renamed(const char *old_name, const char *new_name);

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

/* Write all of buf to fd; EPIPE exits 0 quietly, other errors die. */
void xwrite_fd(int fd, const void *buf, size_t n);
/* Flush and check stdout (FILE*) at the end of main; EPIPE exits 0 quietly. */
void otc_close_stdout(void);
/* fwrite to stdout with the same error semantics. */
void xfwrite_stdout(const void *buf, size_t n);

/* Parse helpers for option arguments: die_usage-style errors naming the option. */
long parse_long(const char *opt, const char *arg, long min, long max);
double parse_double(const char *opt, const char *arg, double min, double max);

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

/* Atomic file output: open "PATH.tmp.PID", rename over PATH on commit. */
typedef struct {
  char *path, *tmp;
  FILE *f;
} atomic_file;
FILE *atomic_open(atomic_file *af, const char *path);
void atomic_commit(atomic_file *af); /* fflush, fsync, fclose, rename; dies on error */
void atomic_abort(atomic_file *af);  /* remove the temporary */

/* The record stream's *_or_die wrappers (the stream layer returns errors). */
#include "cli/stream_cli.h"

#endif
