/* vec.c: the kernels of kernels/vec.h: the portable reference here, the
 * vector variants from vec_simd.h compiled twice (AVX2+FMA, AVX-512F) under
 * GCC target pragmas (clang: attribute pragmas), and the dispatch through kernels/cpu.h. */
#include "kernels/vec.h"

#include <math.h>
#include <string.h>

#include "kernels/cpu.h"

/* ------------------------------------------------------------ portable */

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

static void bias_gelu_portable(float *out, float *pre, const float *x, const float *bias, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) {
      size_t i = r * cols + c;
      float z = bias ? x[i] + bias[c] : x[i];
      if (pre) pre[i] = z;
      out[i] = 0.5f * z * (1.0f + erff(z * (float)SQRT1_2));
    }
}

static void gelu_backward_portable(float *dx, const float *x, const float *dout, size_t n, int acc) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float cdf = 0.5f * (1.0f + erff(v * (float)SQRT1_2));
    float pdf = (float)INV_SQRT_2PI * expf(-0.5f * v * v);
    float d = dout[i] * (cdf + v * pdf);
    dx[i] = acc ? dx[i] + d : d;
  }
}

static void softmax_rows_portable(float *p, size_t rows, size_t cols, size_t ld, float scale) {
  for (size_t i = 0; i < rows; i++) {
    float *row = p + i * ld, mx = row[0];
    for (size_t j = 1; j < cols; j++)
      if (row[j] > mx) mx = row[j];
    float s = 0;
    for (size_t j = 0; j < cols; j++) {
      row[j] = expf((row[j] - mx) * scale);
      s += row[j];
    }
    float inv = 1.0f / s;
    for (size_t j = 0; j < cols; j++) row[j] *= inv;
  }
}

static void softmax_backward_rows_portable(float *g, const float *p, size_t rows, size_t cols, size_t ld,
                                           float scale) {
  for (size_t i = 0; i < rows; i++) {
    const float *pr = p + i * ld;
    float *gr = g + i * ld, dot = 0;
    for (size_t j = 0; j < cols; j++) dot += gr[j] * pr[j];
    for (size_t j = 0; j < cols; j++) gr[j] = pr[j] * (gr[j] - dot) * scale;
  }
}

static void layernorm_portable(float *y, float *mean, float *rstd, float *x, const float *bias, const float *res,
                               const float *w, const float *b, size_t rows, size_t C, double eps) {
  for (size_t r = 0; r < rows; r++) {
    float *xr = x + r * C;
    if (bias || res)
      for (size_t i = 0; i < C; i++) {
        float v = bias ? xr[i] + bias[i] : xr[i];
        xr[i] = res ? v + res[r * C + i] : v;
      }
    double s = 0;
    for (size_t i = 0; i < C; i++) s += xr[i];
    double m = s / (double)C, v = 0;
    for (size_t i = 0; i < C; i++) {
      double t = xr[i] - m;
      v += t * t;
    }
    v /= (double)C;
    float rs = (float)(1.0 / sqrt(v + eps)), mr = (float)m;
    float *yr = y + r * C;
    for (size_t i = 0; i < C; i++) yr[i] = (xr[i] - mr) * rs * w[i] + b[i];
    mean[r] = mr;
    rstd[r] = rs;
  }
}

static void layernorm_backward_portable(float *dx, const float *dout, const float *x, const float *w,
                                        const float *mean, const float *rstd, size_t rows, size_t C, int acc) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * C, *g = dout + r * C;
    float m = mean[r], rs = rstd[r];
    double sum_dn = 0, sum_dn_n = 0;
    for (size_t i = 0; i < C; i++) {
      float norm = (xr[i] - m) * rs, dn = w[i] * g[i];
      sum_dn += dn;
      sum_dn_n += (double)dn * norm;
    }
    float mdn = (float)(sum_dn / (double)C), mdnn = (float)(sum_dn_n / (double)C);
    float *d = dx + r * C;
    for (size_t i = 0; i < C; i++) {
      float norm = (xr[i] - m) * rs, dn = w[i] * g[i];
      float v = rs * (dn - mdn - norm * mdnn);
      d[i] = acc ? d[i] + v : v;
    }
  }
}

static void layernorm_param_grads_portable(float *dw, float *db, const float *dout, const float *x,
                                           const float *mean, const float *rstd, size_t rows, size_t C, size_t c0,
                                           size_t c1) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * C, *g = dout + r * C;
    float m = mean[r], rs = rstd[r];
    for (size_t i = c0; i < c1; i++) {
      if (db) db[i] += g[i];
      if (dw) dw[i] += (xr[i] - m) * rs * g[i];
    }
  }
}

static void colsum_portable(float *acc, const float *x, size_t rows, size_t ld, size_t c0, size_t c1) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = c0; c < c1; c++) acc[c] += x[r * ld + c];
}

static double logsumexp_d_portable(const double *g, const double *c, double scale, size_t n) {
  double mx = -INFINITY;
  for (size_t j = 0; j < n; j++) {
    double v = g[j] - c[j] * scale;
    if (v > mx) mx = v;
  }
  double s = 0;
  for (size_t j = 0; j < n; j++) s += exp(g[j] - c[j] * scale - mx);
  return mx + log(s);
}

static float max_portable(const float *p, size_t n) {
  float r = p[0];
  for (size_t x = 1; x < n; x++) r = p[x] > r ? p[x] : r;
  return r;
}

static void max_into_portable(float *cm, const float *row, size_t n) {
  for (size_t x = 0; x < n; x++) cm[x] = row[x] > cm[x] ? row[x] : cm[x];
}

static void normalize_portable(float *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  if (s <= 0) return;
  double inv = 1.0 / sqrt(s);
  for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] * inv);
}

/* ------------------------------------------------------------- vectors */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define OTC_VEC_SIMD 1

/* Each variant is compiled for its instruction set: GCC's target pragma, or
 * clang's equivalent (clang ignores the GCC pragma; `make fuzz` uses clang). */
#ifdef __clang__
#define SIMD_BEGIN_AVX2 _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define SIMD_BEGIN_AVX512 _Pragma("clang attribute push(__attribute__((target(\"avx512f\"))), apply_to = function)")
#define SIMD_END _Pragma("clang attribute pop")
#else
#define SIMD_BEGIN_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define SIMD_BEGIN_AVX512 _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f\")")
#define SIMD_END _Pragma("GCC pop_options")
#endif

SIMD_BEGIN_AVX2
#define VW 8
#define VSFX avx2
#include "kernels/vec_simd.h"
#undef VW
#undef VSFX
SIMD_END

SIMD_BEGIN_AVX512
#define VW 16
#define VSFX avx512
#include "kernels/vec_simd.h"
#undef VW
#undef VSFX
SIMD_END
#endif

/* ------------------------------------------------------------ dispatch */

typedef struct {
  void (*bias_gelu)(float *, float *, const float *, const float *, size_t, size_t);
  void (*gelu_backward)(float *, const float *, const float *, size_t, int);
  void (*softmax_rows)(float *, size_t, size_t, size_t, float);
  void (*softmax_backward_rows)(float *, const float *, size_t, size_t, size_t, float);
  void (*layernorm)(float *, float *, float *, float *, const float *, const float *, const float *, const float *,
                    size_t, size_t, double);
  void (*layernorm_backward)(float *, const float *, const float *, const float *, const float *, const float *,
                             size_t, size_t, int);
  void (*layernorm_param_grads)(float *, float *, const float *, const float *, const float *, const float *,
                                size_t, size_t, size_t, size_t);
  void (*colsum)(float *, const float *, size_t, size_t, size_t, size_t);
  double (*logsumexp_d)(const double *, const double *, double, size_t);
  float (*max)(const float *, size_t);
  void (*max_into)(float *, const float *, size_t);
  void (*normalize)(float *, size_t);
} vec_ops;

#define OPS(s)                                                                                              \
  {bias_gelu_##s, gelu_backward_##s, softmax_rows_##s, softmax_backward_rows_##s, layernorm_##s,              \
   layernorm_backward_##s, layernorm_param_grads_##s, colsum_##s, logsumexp_d_##s, max_##s, max_into_##s, \
   normalize_##s}

static const vec_ops ops_table[] = {OPS(portable),
#ifdef OTC_VEC_SIMD
                                    OPS(avx2), OPS(avx512)
#endif
};

static inline const vec_ops *ops(void) {
  int l = kern_cpu_level();
  int n = (int)(sizeof ops_table / sizeof ops_table[0]) - 1;
  return &ops_table[l < n ? l : n];
}

void kern_bias_gelu(float *out, float *pre, const float *x, const float *bias, size_t rows, size_t cols) {
  ops()->bias_gelu(out, pre, x, bias, rows, cols);
}
void kern_gelu_backward(float *dx, const float *x, const float *dout, size_t n, int accumulate) {
  ops()->gelu_backward(dx, x, dout, n, accumulate);
}
void kern_softmax_rows(float *p, size_t rows, size_t cols, size_t ld, float scale) {
  ops()->softmax_rows(p, rows, cols, ld, scale);
}
void kern_softmax_backward_rows(float *g, const float *p, size_t rows, size_t cols, size_t ld, float scale) {
  ops()->softmax_backward_rows(g, p, rows, cols, ld, scale);
}
void kern_layernorm(float *y, float *mean, float *rstd, float *x, const float *bias, const float *res,
                    const float *w, const float *b, size_t rows, size_t C, double eps) {
  ops()->layernorm(y, mean, rstd, x, bias, res, w, b, rows, C, eps);
}
void kern_layernorm_backward(float *dx, const float *dout, const float *x, const float *w, const float *mean,
                             const float *rstd, size_t rows, size_t C, int accumulate) {
  ops()->layernorm_backward(dx, dout, x, w, mean, rstd, rows, C, accumulate);
}
void kern_layernorm_param_grads(float *dw, float *db, const float *dout, const float *x, const float *mean,
                                const float *rstd, size_t rows, size_t C, size_t c0, size_t c1) {
  ops()->layernorm_param_grads(dw, db, dout, x, mean, rstd, rows, C, c0, c1);
}
void kern_colsum(float *acc, const float *x, size_t rows, size_t ld, size_t c0, size_t c1) {
  ops()->colsum(acc, x, rows, ld, c0, c1);
}
double kern_logsumexp_d(const double *g, const double *c, double scale, size_t n) {
  return ops()->logsumexp_d(g, c, scale, n);
}
float kern_max(const float *p, size_t n) { return ops()->max(p, n); }
void kern_max_into(float *cm, const float *row, size_t n) { ops()->max_into(cm, row, n); }
void kern_normalize(float *x, size_t n) { ops()->normalize(x, n); }
