/* check.h: the unit-test harness. Each CHECK prints a TAP line ("ok N - ..."
 * or "not ok N - ...") and the test exits non-zero if any failed, so a test
 * can never pass silently. Usage:
 *   int main(void) { CHECK(x == 1, "x is %d", x); ...; return check_done(); }
 */
#ifndef OTC_CHECK_H
#define OTC_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_n, check_failed;

#define CHECK(cond, ...)                                                  \
  do {                                                                    \
    int check_ok_ = !!(cond);                                             \
    check_n++;                                                            \
    if (!check_ok_) check_failed++;                                       \
    printf("%sok %d - ", check_ok_ ? "" : "not ", check_n);               \
    printf(__VA_ARGS__);                                                  \
    printf("%s\n", check_ok_ ? "" : " [" __FILE__ ":" CHECK_STR(__LINE__) "]"); \
    fflush(stdout);                                                       \
  } while (0)
#define CHECK_STR2(x) #x
#define CHECK_STR(x) CHECK_STR2(x)

/* |a - b| <= abs_tol, or relative error <= rel_tol. NaN never passes. */
static inline int check_close(double a, double b, double abs_tol, double rel_tol) {
  double d = fabs(a - b);
  if (d != d) return 0;
  return d <= abs_tol || d <= rel_tol * fmax(fabs(a), fabs(b));
}

static inline int check_done(void) {
  printf("# %d checks, %d failed\n", check_n, check_failed);
  return check_failed ? 1 : 0;
}

/* Path of a file in the shared mirror: $OTCLIR_SHARED (default ../shared). */
static inline const char *check_shared(const char *rel) {
  static char buf[4096];
  const char *base = getenv("OTCLIR_SHARED");
  snprintf(buf, sizeof buf, "%s/%s", base && *base ? base : "../shared", rel);
  return buf;
}
#endif
