/* test_kernels: every variant of kernels/vec.h and kernels/bf16.h that this
 * CPU supports against the portable one (kernels/cpu.h), with the
 * tolerances of lib/kernels/README.md; each variant deterministic (two runs
 * bit-identical) and, for the threaded bf16 product, independent of the
 * thread count; kern_sgemm (one product split over the pool) against a
 * double-precision product on 1-3 threads. Odd sizes exercise the vector
 * tails. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "check.h"
#include "kernels/bf16.h"
#include "kernels/blas.h"
#include "kernels/cpu.h"
#include "kernels/vec.h"

static rng_t rng;
static void fill(float *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * rng_uniform(&rng));
}

/* max over i of |a - b| / max(|b|, floor) */
static double relerr(const float *a, const float *b, size_t n, double floor) {
  double w = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), floor);
    if (!(d <= w)) w = d; /* NaN propagates as failure */
  }
  return w;
}

#define ROWS 7
#define COLS 803 /* 768 + a tail of 35: every vector width has a tail */
#define NALL (ROWS * COLS)

typedef struct {
  float gelu[NALL], pre[NALL], dgelu[NALL], soft[NALL], dsoft[NALL];
  float ln[NALL], lnx[NALL], mean[ROWS], rstd[ROWS], dln[NALL], dw[COLS], db[COLS], cs[COLS];
  float mx[ROWS], cmax[COLS], nrm[NALL];
  double lse[ROWS];
} outs;

static float X[NALL], G[NALL], R[NALL], Bias[COLS], Wln[COLS], Bln[COLS], S[NALL];
static double Gd[COLS], Cd[COLS];

static void run_all(outs *o) {
  kern_bias_gelu(o->gelu, o->pre, X, Bias, ROWS, COLS);
  memcpy(o->dgelu, G, sizeof G);
  kern_gelu_backward(o->dgelu, X, G, NALL, 1);
  memcpy(o->soft, S, sizeof S);
  kern_softmax_rows(o->soft, ROWS, COLS - 3, COLS, 0.125f); /* ld > cols */
  memcpy(o->dsoft, G, sizeof G);
  kern_softmax_backward_rows(o->dsoft, o->soft, ROWS, COLS - 3, COLS, 0.125f);
  memcpy(o->lnx, X, sizeof X);
  kern_layernorm(o->ln, o->mean, o->rstd, o->lnx, Bias, R, Wln, Bln, ROWS, COLS, 1e-12);
  memcpy(o->dln, G, sizeof G);
  kern_layernorm_backward(o->dln, G, o->lnx, Wln, o->mean, o->rstd, ROWS, COLS, 1);
  for (int c = 0; c < COLS; c++) o->dw[c] = 0.5f, o->db[c] = -0.5f, o->cs[c] = 1;
  kern_layernorm_param_grads(o->dw, o->db, G, o->lnx, o->mean, o->rstd, ROWS, COLS, 0, 500);
  kern_layernorm_param_grads(o->dw, o->db, G, o->lnx, o->mean, o->rstd, ROWS, COLS, 500, COLS);
  kern_colsum(o->cs, G, ROWS, COLS, 3, COLS);
  for (int r = 0; r < ROWS; r++) o->mx[r] = kern_max(S + r * COLS, (size_t)COLS - r); /* n = 803..797 */
  memcpy(o->cmax, S, sizeof o->cmax);
  for (int r = 1; r < ROWS; r++) kern_max_into(o->cmax, S + r * COLS, COLS);
  memcpy(o->nrm, X, sizeof X);
  for (int r = 0; r < ROWS; r++) kern_normalize(o->nrm + r * COLS, COLS - r);
  for (int r = 0; r < ROWS; r++) o->lse[r] = kern_logsumexp_d(Gd, Cd, 1.0 / (0.05 + r), COLS - 2 * r);
}

static void test_vec(void) {
  for (size_t i = 0; i < NALL; i++) X[i] = (float)(8 * rng_uniform(&rng) - 4);
  fill(G, NALL, -1, 1);
  fill(R, NALL, -2, 2);
  fill(S, NALL, -30, 30);
  fill(Bias, COLS, -0.5, 0.5);
  fill(Wln, COLS, 0.5, 1.5);
  fill(Bln, COLS, -0.1, 0.1);
  for (int i = 0; i < COLS; i++) Gd[i] = rng_uniform(&rng) * 3 - 1, Cd[i] = rng_uniform(&rng);
  static outs ref, o, o2;
  kern_cpu_set(KERN_PORTABLE);
  run_all(&ref);
  int top = kern_cpu_max() < KERN_AVX512 ? kern_cpu_max() : KERN_AVX512;
  for (int l = KERN_PORTABLE; l <= top; l++) {
    kern_cpu_set(l);
    const char *nm = kern_cpu_name(l);
    memset(&o, 0, sizeof o), memset(&o2, 0, sizeof o2);
    run_all(&o);
    run_all(&o2);
    CHECK(memcmp(&o, &o2, sizeof o) == 0, "%s: two runs bit-identical", nm);
    double e;
    e = relerr(o.gelu, ref.gelu, NALL, 1);
    CHECK(e <= 6e-7 && memcmp(o.pre, ref.pre, sizeof o.pre) == 0,
          "%s: bias+GELU within 6e-7 of max(|gelu|, 1) (%.2g), pre-activation exact", nm, e);
    e = relerr(o.dgelu, ref.dgelu, NALL, 1);
    CHECK(e <= 6e-7, "%s: GELU backward within 6e-7 of max(|dx|, 1) (%.2g)", nm, e);
    e = relerr(o.soft, ref.soft, NALL, 1e-30);
    CHECK(e <= 4e-6, "%s: softmax within 4e-6 rel (%.2g)", nm, e);
    e = relerr(o.dsoft, ref.dsoft, NALL, 1e-6);
    CHECK(e <= 1e-4, "%s: softmax backward within 1e-4 rel of max(|g|, 1e-6) (%.2g)", nm, e);
    int pad_ok = 1;
    for (int r = 0; r < ROWS; r++)
      for (int c = COLS - 3; c < COLS; c++) pad_ok &= o.soft[r * COLS + c] == S[r * COLS + c];
    CHECK(pad_ok, "%s: softmax leaves the columns past cols alone", nm);
    e = relerr(o.ln, ref.ln, NALL, 1e-2);
    double e2 = relerr(o.lnx, ref.lnx, NALL, 1e-30), e3 = relerr(o.rstd, ref.rstd, ROWS, 1e-30);
    CHECK(e <= 2e-6 && e2 == 0 && e3 <= 1e-7, "%s: LayerNorm (+bias +residual) within 2e-6 (%.2g), sum exact, rstd %.2g", nm, e, e3);
    e = relerr(o.dln, ref.dln, NALL, 1e-2);
    CHECK(e <= 1e-5, "%s: LayerNorm backward within 1e-5 of max(|dx|, 1e-2) (%.2g)", nm, e);
    e = fmax(relerr(o.dw, ref.dw, COLS, 1), relerr(o.db, ref.db, COLS, 1));
    CHECK(e <= 1e-6, "%s: LayerNorm parameter gradients (two column ranges) within 1e-6 of max(|g|, 1) (%.2g)", nm, e);
    e = relerr(o.cs, ref.cs, COLS, 1);
    CHECK(e <= 1e-6 && o.cs[0] == 1 && o.cs[2] == 1, "%s: column sums within 1e-6 of max(|s|, 1) (%.2g), columns outside untouched", nm, e);
    CHECK(memcmp(o.mx, ref.mx, sizeof o.mx) == 0 && memcmp(o.cmax, ref.cmax, sizeof o.cmax) == 0,
          "%s: maxima exact", nm);
    e = relerr(o.nrm, ref.nrm, NALL, 1e-30);
    CHECK(e <= 1.2e-7, "%s: normalisation within 1 ulp (%.2g)", nm, e);
    double le = 0;
    for (int r = 0; r < ROWS; r++) le = fmax(le, fabs(o.lse[r] - ref.lse[r]) / fabs(ref.lse[r]));
    CHECK(le <= 1e-14, "%s: log-sum-exp (double) within 1e-14 rel (%.2g)", nm, le);
  }
  /* the portable variant is the old scalar code: spot values */
  kern_cpu_set(KERN_PORTABLE);
  float one = 1, g1;
  kern_bias_gelu(&g1, NULL, &one, NULL, 1, 1);
  CHECK(fabs(g1 - 0.8413447460685429) < 1e-7, "portable GELU(1) = %.9g (0.841344746)", g1);
}

/* bf16 products: against a double reference on the bf16-rounded inputs. */
static void test_bf16(void) {
  enum { N = 45, C = 70, OC = 50 };
  static float x[N * C], W[OC * C], b[OC], out[N * OC], out2[N * OC], ref[N * OC], bound[N * OC];
  fill(x, N * C, -2, 2);
  fill(W, OC * C, -0.1, 0.1);
  fill(b, OC, -1, 1);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = b[o], a = fabs(b[o]);
      for (int k = 0; k < C; k++) {
        double p = (double)kern_bf16_to_f32(kern_f32_to_bf16(x[n * C + k])) *
                   kern_bf16_to_f32(kern_f32_to_bf16(W[o * C + k]));
        s += p, a += fabs(p);
      }
      ref[n * OC + o] = (float)s;
      bound[n * OC + o] = (float)a;
    }
  CHECK(kern_f32_to_bf16(1.0f) == 0x3f80 && kern_f32_to_bf16(1.00390625f) == 0x3f80 &&
            kern_f32_to_bf16(1.01171875f) == 0x3f82 && kern_bf16_to_f32(0x3f81) == 1.0078125f,
        "bf16 rounding: to nearest, ties to even");
  static float first[N * OC];
  for (int l = KERN_PORTABLE; l <= kern_cpu_max(); l++) {
    if (l == KERN_AVX2 || l == KERN_AVX512) continue; /* same product as portable */
    kern_cpu_set(l);
    const char *nm = kern_cpu_name(l);
    kern_bf16_mat *m = kern_bf16_pack(W, OC, C);
    void *scr = xmalloc(kern_bf16_scratch_bytes(m, N));
    otc_set_threads(1);
    kern_bf16_gemm(out, x, m, b, N, scr);
    otc_set_threads(2);
    kern_bf16_gemm(out2, x, m, b, N, scr);
    double e = 0;
    for (int i = 0; i < N * OC; i++) e = fmax(e, fabs(out[i] - ref[i]) / bound[i]);
    CHECK(kern_bf16_level(m) == l && e <= 1e-6, "%s: bf16 product within 1e-6 of sum |x_k w_k| (%.2g)", nm, e);
    CHECK(memcmp(out, out2, sizeof out) == 0, "%s: bf16 product bit-identical on 1 and 2 threads", nm);
    if (l == KERN_PORTABLE) memcpy(first, out, sizeof out);
    kern_bf16_gemm(out2, x, m, NULL, 7, scr); /* fewer rows than a block, no bias */
    int ok = 1;
    for (int i = 0; i < 7 * OC; i++) ok &= fabs(out2[i] + b[i % OC] - out[i]) <= 1e-5 * (bound[i] + 1);
    CHECK(ok, "%s: 7 rows without bias", nm);
    free(scr);
    kern_bf16_free(m);
  }
}


/* kern_sgemm: every transpose combination, C's rows or columns split (the
 * longer side), sizes that are not multiples of the 16-wide split unit, beta
 * 0 and 1, ldc wider than N (the columns past N untouched); within 1e-6 of
 * sum |a_k b_k| of a double-precision product, and bit-identical on 1, 2
 * and 3 threads (the sizes are such that thirds would fall into OpenBLAS's
 * small-matrix kernels, which round differently). */
static void test_sgemm(void) {
  static const int shape[][3] = {{37, 1000, 70}, {900, 45, 64}, {333, 301, 29}};
  for (int s = 0; s < 3; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        int M = shape[s][0], N = shape[s][1], K = shape[s][2], ldc = N + 3;
        int lda = ta ? M : K, ldb = tb ? K : N;
        float *A = xmalloc((size_t)M * K * sizeof *A), *B = xmalloc((size_t)N * K * sizeof *B);
        float *C0 = xmalloc((size_t)M * ldc * sizeof *C0), *C = xmalloc((size_t)M * ldc * sizeof *C);
        float *C2 = xmalloc((size_t)M * ldc * sizeof *C2), *C1 = xmalloc((size_t)M * ldc * sizeof *C1);
        fill(A, (size_t)M * K, -1, 1);
        fill(B, (size_t)N * K, -1, 1);
        fill(C0, (size_t)M * ldc, -1, 1);
        double worst = 0;
        int same = 1, untouched = 1;
        for (int beta = 0; beta < 2; beta++)
          for (int t = 1; t <= 3; t++) {
            otc_set_threads(t);
            memcpy(C, C0, (size_t)M * ldc * sizeof *C);
            memcpy(C2, C0, (size_t)M * ldc * sizeof *C);
            kern_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, (float)beta, C, ldc);
            kern_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, (float)beta, C2, ldc);
            same &= memcmp(C, C2, (size_t)M * ldc * sizeof *C) == 0;
            if (t == 1) memcpy(C1, C, (size_t)M * ldc * sizeof *C);
            same &= memcmp(C, C1, (size_t)M * ldc * sizeof *C) == 0;
            for (int i = 0; i < M; i++) {
              for (int j = 0; j < N; j++) {
                double r = beta ? C0[(size_t)i * ldc + j] : 0, a = fabs(r);
                for (int k = 0; k < K; k++) {
                  double x = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                  double y = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                  r += 0.5 * x * y, a += fabs(0.5 * x * y);
                }
                worst = fmax(worst, fabs(C[(size_t)i * ldc + j] - r) / fmax(a, 1e-30));
              }
              for (int j = N; j < ldc; j++) untouched &= C[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j];
            }
          }
        CHECK(worst <= 1e-6 && same && untouched,
              "sgemm %dx%dx%d trans %d%d, beta 0/1: within 1e-6 of sum |ab| (%.2g), bit-identical on 1, 2, 3 "
              "threads, padding untouched", M, N, K, ta, tb, worst);
        free(A), free(B), free(C0), free(C), free(C2), free(C1);
      }
  otc_set_threads(1);
}

int main(void) {
  rng_seed(&rng, 42);
  printf("# CPU: best level %s\n", kern_cpu_name(kern_cpu_max()));
  CHECK(kern_cpu_parse("avx2") == KERN_AVX2 && kern_cpu_parse("amx") == KERN_AMX && kern_cpu_parse("x") == -1 &&
            kern_cpu_set(KERN_NLEVELS + 3) == kern_cpu_max(),
        "level names; a level above the CPU's is capped at %s", kern_cpu_name(kern_cpu_max()));
  test_vec();
  test_bf16();
  test_sgemm();
  return check_done();
}
