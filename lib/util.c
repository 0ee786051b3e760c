#include "util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

static const char *prog_name = "otclir";
static int n_threads;

const char *otc_prog(void) { return prog_name; }

void otc_init(const char *argv0) {
  if (argv0 && *argv0) {
    const char *slash = strrchr(argv0, '/');
    prog_name = slash ? slash + 1 : argv0;
  }
  signal(SIGPIPE, SIG_IGN);
}

static void vmsg(const char *fmt, va_list ap, int errnum) {
  fflush(stdout);
  fprintf(stderr, "%s: ", prog_name);
  vfprintf(stderr, fmt, ap);
  if (errnum) fprintf(stderr, ": %s", strerror(errnum));
  fputc('\n', stderr);
}

void die(const char *fmt, ...) {
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
  fprintf(stderr, "Try '%s --help' for the manual.\n", prog_name);
  exit(OTC_EXIT_USAGE);
}

void die_usage_msg(const char *usage, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog_name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  die_usage(usage);
}

void print_version(void) {
  printf("%s (otclir) %s\n", prog_name, OTC_VERSION);
  otc_close_stdout();
  exit(OTC_EXIT_OK);
}

int set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die("out of memory (%zu bytes)", n);
  return p;
}
void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) die("out of memory (%zu x %zu bytes)", n, size);
  return p;
}
void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) die("out of memory (%zu bytes)", n);
  return q;
}
char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}
size_t xmul(size_t a, size_t b) {
  if (b && a > SIZE_MAX / b) die("size overflow (%zu x %zu)", a, b);
  return a * b;
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
    fprintf(stderr, "%s: option %s: '%s' is not an integer in [%ld, %ld]\n", prog_name, opt, arg, min, max);
    exit(OTC_EXIT_USAGE);
  }
  return v;
}

double parse_double(const char *opt, const char *arg, double min, double max) {
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  if (errno || end == arg || *end || !(v >= min && v <= max)) {
    fprintf(stderr, "%s: option %s: '%s' is not a number in [%g, %g]\n", prog_name, opt, arg, min, max);
    exit(OTC_EXIT_USAGE);
  }
  return v;
}

/* If N significant digits read back as x, so do N + 1 (correctly rounded
 * printf and strtod), so the shortest N is found by bisection. */
void fmt_double(char *buf, size_t n, double x) {
  int lo = 1, hi = 17;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (snprintf(buf, n, "%.*g", mid, x) < (int)n && strtod(buf, NULL) == x) hi = mid;
    else lo = mid + 1;
  }
  if (snprintf(buf, n, "%.*g", lo, x) >= (int)n) die("fmt_double: buffer of %zu bytes too small", n);
}

void fmt_float(char *buf, size_t n, float x) {
  int lo = 1, hi = 9;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (snprintf(buf, n, "%.*g", mid, (double)x) < (int)n && strtof(buf, NULL) == x) hi = mid;
    else lo = mid + 1;
  }
  if (snprintf(buf, n, "%.*g", lo, (double)x) >= (int)n) die("fmt_float: buffer of %zu bytes too small", n);
}

int otc_ncores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

void otc_set_threads(int n) {
  if (n < 1) n = otc_ncores();
  n_threads = n;
  openblas_set_num_threads(n);
}

int otc_threads(void) { return n_threads > 0 ? n_threads : otc_ncores(); }

double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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
    fprintf(stderr, "\r%s: %s: %llu / %llu (%.0f/s)  ", prog_name, p->what, (unsigned long long)done,
            (unsigned long long)total, rate);
  else
    fprintf(stderr, "\r%s: %s: %llu (%.0f/s)  ", prog_name, p->what, (unsigned long long)done, rate);
}

void progress_end(otc_progress *p, uint64_t done) {
  if (!p->enabled) return;
  double t = now_seconds() - p->t0;
  fprintf(stderr, "\r%s: %s: %llu in %.1f s          \n", prog_name, p->what, (unsigned long long)done, t);
}

const char *otc_shared_dir(void) {
  const char *s = getenv("OTCLIR_SHARED");
  return s && *s ? s : "../shared";
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
