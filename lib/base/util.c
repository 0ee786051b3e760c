#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *prog_name = "otclir";
static int n_threads;

const char *otc_prog(void) { return prog_name; }

void otc_set_prog(const char *argv0) {
  if (argv0 && *argv0) {
    const char *slash = strrchr(argv0, '/');
    prog_name = slash ? slash + 1 : argv0;
  }
}

/* Out of memory and size overflow end the process, as git's xmalloc does:
 * no caller could do anything better, and every caller would have to. */
static void oom(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog_name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(OTC_EXIT_FAIL); /* oom: the one exit in lib/ */
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
  if (!p) oom("out of memory (%zu bytes)", n);
  return p;
}
void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom("out of memory (%zu x %zu bytes)", n, size);
  return p;
}
void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom("out of memory (%zu bytes)", n);
  return q;
}
char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}
size_t xmul(size_t a, size_t b) {
  if (b && a > SIZE_MAX / b) oom("size overflow (%zu x %zu)", a, b);
  return a * b;
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
  if (snprintf(buf, n, "%.*g", lo, x) >= (int)n) oom("fmt_double: buffer of %zu bytes too small", n);
}

void fmt_float(char *buf, size_t n, float x) {
  int lo = 1, hi = 9;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (snprintf(buf, n, "%.*g", mid, (double)x) < (int)n && strtof(buf, NULL) == x) hi = mid;
    else lo = mid + 1;
  }
  if (snprintf(buf, n, "%.*g", lo, (double)x) >= (int)n) oom("fmt_float: buffer of %zu bytes too small", n);
}

int sorted_u32_has(const uint32_t *v, size_t n, uint32_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v[mid] == x) return 1;
    if (v[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return 0;
}

int otc_ncores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

void otc_set_threads(int n) {
  if (n < 1) n = otc_ncores();
  n_threads = n;
}

int otc_threads(void) { return n_threads > 0 ? n_threads : otc_ncores(); }

double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *otc_shared_dir(void) {
  const char *s = getenv("OTCLIR_SHARED");
  return s && *s ? s : "../shared";
}

