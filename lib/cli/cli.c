#include "cli/cli.h"

#include "stream/rec.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const cli_prog *the_prog;

void otc_init(const char *argv0) {
  otc_set_prog(argv0);
  signal(SIGPIPE, SIG_IGN);
}

void cli_init(const cli_prog *p, const char *argv0) {
  the_prog = p;
  otc_init(argv0);
}

static void vmsg(const char *fmt, va_list ap, int errnum) {
  fflush(stdout);
  fprintf(stderr, "%s: ", otc_prog());
  vfprintf(stderr, fmt, ap);
  if (errnum) fprintf(stderr, ": %s", strerror(errnum));
  fputc('\n', stderr);
}

void die(const char *fmt, ...) {
  if (rec_epipe()) exit(OTC_EXIT_OK); /* the failure was a closed pipe downstream: not an error of ours */
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap, 0);
  va_end(ap);
  exit(OTC_EXIT_FAIL);
}

void die_errno(const char *fmt, ...) {
  int e = errno;
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap, e);
  va_end(ap);
  exit(OTC_EXIT_FAIL);
}

void warnx_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap, 0);
  va_end(ap);
}

void die_usage(const char *usage) {
  fprintf(stderr, "%s", usage);
  fprintf(stderr, "Try '%s --help' for the manual.\n", otc_prog());
  exit(OTC_EXIT_USAGE);
}

void die_usage_msg(const char *usage, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", otc_prog());
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  die_usage(usage);
}

void print_version(void) {
  printf("%s (otclir) %s\n", otc_prog(), OTC_VERSION);
  otc_close_stdout();
  exit(OTC_EXIT_OK);
}

void xwrite_fd(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) exit(OTC_EXIT_OK);
      die_errno("write error");
    }
    p += w;
    n -= (size_t)w;
  }
}

void xfwrite_stdout(const void *buf, size_t n) {
  if (n && fwrite(buf, 1, n, stdout) != n) {
    if (errno == EPIPE) exit(OTC_EXIT_OK);
    die_errno("write error on standard output");
  }
}

void otc_close_stdout(void) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    if (errno == EPIPE) exit(OTC_EXIT_OK);
    die_errno("write error on standard output");
  }
}

long parse_long(const char *opt, const char *arg, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno || end == arg || *end || v < min || v > max) {
    fprintf(stderr, "%s: option %s: '%s' is not an integer in [%ld, %ld]\n", otc_prog(), opt, arg, min, max);
    exit(OTC_EXIT_USAGE);
  }
  return v;
}

double parse_double(const char *opt, const char *arg, double min, double max) {
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  if (errno || end == arg || *end || !(v >= min && v <= max)) {
    fprintf(stderr, "%s: option %s: '%s' is not a number in [%g, %g]\n", otc_prog(), opt, arg, min, max);
    exit(OTC_EXIT_USAGE);
  }
  return v;
}

void progress_init(otc_progress *p, const char *what, int force) {
  p->enabled = force || isatty(2);
  p->t0 = p->last = now_seconds();
  p->what = what;
}

void progress_update(otc_progress *p, uint64_t done, uint64_t total) {
  if (!p->enabled) return;
  double t = now_seconds();
  if (t - p->last < 0.25) return;
  p->last = t;
  double rate = done / (t - p->t0 > 1e-9 ? t - p->t0 : 1e-9);
  if (total)
    fprintf(stderr, "\r%s: %s: %llu / %llu (%.0f/s)  ", otc_prog(), p->what, (unsigned long long)done,
            (unsigned long long)total, rate);
  else
    fprintf(stderr, "\r%s: %s: %llu (%.0f/s)  ", otc_prog(), p->what, (unsigned long long)done, rate);
}

void progress_end(otc_progress *p, uint64_t done) {
  if (!p->enabled) return;
  double t = now_seconds() - p->t0;
  fprintf(stderr, "\r%s: %s: %llu in %.1f s          \n", otc_prog(), p->what, (unsigned long long)done, t);
}

FILE *atomic_open(atomic_file *af, const char *path) {
  af->path = xstrdup(path);
  size_t n = strlen(path) + 32;
  af->tmp = xmalloc(n);
  snprintf(af->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  af->f = fopen(af->tmp, "wb");
  if (!af->f) die_errno("cannot create '%s'", af->tmp);
  return af->f;
}

void atomic_commit(atomic_file *af) {
  if (fflush(af->f) != 0 || ferror(af->f) || fsync(fileno(af->f)) != 0) {
    int e = errno;
    fclose(af->f);
    unlink(af->tmp);
    errno = e;
    die_errno("write error on '%s'", af->tmp);
  }
  if (fclose(af->f) != 0) {
    unlink(af->tmp);
    die_errno("close error on '%s'", af->tmp);
  }
  if (rename(af->tmp, af->path) != 0) {
    unlink(af->tmp);
    die_errno("cannot rename '%s' to '%s'", af->tmp, af->path);
  }
  free(af->tmp);
  free(af->path);
  af->tmp = af->path = NULL;
  af->f = NULL;
}

void atomic_abort(atomic_file *af) {
  if (af->f) fclose(af->f);
  if (af->tmp) unlink(af->tmp);
  free(af->tmp);
  free(af->path);
  af->tmp = af->path = NULL;
  af->f = NULL;
}

/* ---- one manual, one usage, one version ---- */

void cli_help(void) {
  fputs(the_prog->manual, stdout);
  otc_close_stdout(); /* a failed write of the manual is an error too */
  exit(OTC_EXIT_OK);
}

void cli_version(void) { print_version(); }

void cli_usage(void) { die_usage(the_prog->usage); }

void cli_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", otc_prog());
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  die_usage(the_prog->usage);
}

int cli_choice(const char *opt, const char *arg, const char *const *choices) {
  for (int i = 0; choices[i]; i++)
    if (strcmp(arg, choices[i]) == 0) return i;
  char list[512];
  size_t n = 0;
  list[0] = 0;
  for (int i = 0; choices[i] && n < sizeof list; i++)
    n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", choices[i]);
  cli_usage_error("%s: unknown value '%s' (expected one of: %s)", opt, arg, list);
}

uint64_t cli_seed(const char *opt, const char *arg) {
  char *end;
  errno = 0;
  if (*arg == '-' || *arg == '+' || *arg == ' ') errno = EINVAL;
  unsigned long long v = errno ? 0 : strtoull(arg, &end, 10);
  if (errno || end == arg || *end) cli_usage_error("%s: '%s' is not a seed (an integer in [0, 2^64-1])", opt, arg);
  return (uint64_t)v;
}

int cli_threads(const char *opt, const char *arg) {
  int n = (int)parse_long(opt, arg, 0, 4096);
  if (n == 0) n = otc_ncores();
  otc_set_threads(n);
  return n;
}

void cli_renamed(const char *old_name, const char *new_name) {
  fprintf(stderr, "%s: warning: %s is now %s; the old name is accepted until otclir 0.3 (docs/options.md)\n",
          otc_prog(), old_name, new_name);
}
