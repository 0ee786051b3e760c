/* base/util.h: what every layer may use: library errors into a caller's
 * buffer (set_err), allocation that ends the process only when memory runs
 * out (as git's xmalloc), shortest round-trip number formatting, the thread
 * count, a monotonic clock, the data mirror's path. Nothing here prints
 * (except the out-of-memory message) or exits otherwise: that is cli/. */
#ifndef OTC_UTIL_H
#define OTC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OTC_VERSION "0.1.0"
#define OTC_EXIT_OK 0
#define OTC_EXIT_FAIL 1
#define OTC_EXIT_USAGE 2

/* Program name used in every message; set by cli_init()/otc_init() from argv[0]. */
const char *otc_prog(void);
void otc_set_prog(const char *argv0);

/* Library functions report errors into a caller's buffer rather than dying:
 * format the message into err (when non-NULL) and return -1. */
int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Overflow-checked a*b for allocation sizes; dies on overflow. */
size_t xmul(size_t a, size_t b);

/* The shortest "%.Ng" that reads back as exactly x (strtod / strtof): how
 * every program prints a number meant to round-trip. buf needs 32 bytes. */
void fmt_double(char *buf, size_t n, double x);
void fmt_float(char *buf, size_t n, float x);

/* 1 if x is in v[0..n), sorted ascending (binary search), else 0. */
int sorted_u32_has(const uint32_t *v, size_t n, uint32_t x);

/* Default thread count: the number of online cores. */
int otc_ncores(void);
/* The thread count our own loops use (n < 1: all cores). BLAS gets it
 * through kernels/blas.h (kern_set_threads), in the programs that link it. */
void otc_set_threads(int n);
int otc_threads(void);

double now_seconds(void); /* monotonic clock */

/* Directory of shared data: $OTCLIR_SHARED, default "../shared" (relative to cwd). */
const char *otc_shared_dir(void);

#endif
