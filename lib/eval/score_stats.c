/* score_stats.c: significance tests for comparing two runs topic by topic.
 *
 * Student's t CDF through the regularized incomplete beta function,
 *   P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2),
 * with I_x(a,b) from its continued fraction (modified Lentz), used on the
 * side of x where it converges fast (Numerical Recipes, 6.4; the formulas
 * are textbook, the code is ours).
 */
#include <math.h>
#include <stdlib.h>

#include "base/rng.h"
#include "eval/score.h"
#include "base/util.h"

static double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-16;
  double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 1000; m++) {
    int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < eps) break;
  }
  return h;
}

double score_betainc(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || isnan(x)) return NAN;
  if (x <= 0) return 0.0;
  if (x >= 1) return 1.0;
  double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
  double bt = exp(lbt);
  if (x < (a + 1.0) / (a + b + 2.0)) return bt * beta_cf(a, b, x) / a;
  return 1.0 - bt * beta_cf(b, a, 1.0 - x) / b;
}

double score_t_pvalue(double t, double df) {
  if (isnan(t) || !(df > 0)) return NAN;
  if (isinf(t)) return 0.0;
  return score_betainc(df / 2.0, 0.5, df / (df + t * t));
}

double score_paired_t(const double *a, const double *b, int n, double *t_out) {
  if (t_out) *t_out = 0.0;
  if (n < 2) return 1.0;
  double mean = 0.0;
  for (int i = 0; i < n; i++) mean += b[i] - a[i];
  mean /= n;
  double ss = 0.0;
  for (int i = 0; i < n; i++) {
    double d = b[i] - a[i] - mean;
    ss += d * d;
  }
  double sd = sqrt(ss / (n - 1));
  if (sd == 0.0) {
    if (t_out) *t_out = mean == 0.0 ? 0.0 : copysign(INFINITY, mean);
    return mean == 0.0 ? 1.0 : 0.0;
  }
  double t = mean / (sd / sqrt((double)n));
  if (t_out) *t_out = t;
  return score_t_pvalue(t, n - 1);
}

double score_paired_randomization(const double *a, const double *b, int n, long perms,
                                  uint64_t seed) {
  if (n < 1 || perms < 1) return 1.0;
  double *d = xmalloc(sizeof *d * (size_t)n);
  double obs = 0.0, scale = 0.0;
  for (int i = 0; i < n; i++) {
    d[i] = b[i] - a[i];
    obs += d[i];
    scale += fabs(d[i]);
  }
  obs = fabs(obs);
  /* Sums of the same terms in another order differ by rounding; count a
     permuted sum as extreme when within that rounding of the observed one. */
  double tol = 1e-12 * scale;
  rng_t r;
  rng_seed(&r, seed);
  long extreme = 0;
  for (long p = 0; p < perms; p++) {
    double s = 0.0;
    uint64_t bits = 0;
    for (int i = 0; i < n; i++) {
      if ((i & 63) == 0) bits = rng_next(&r);
      s += (bits & 1) ? -d[i] : d[i];
      bits >>= 1;
    }
    if (fabs(s) >= obs - tol) extreme++;
  }
  free(d);
  return (double)(extreme + 1) / (double)(perms + 1);
}
