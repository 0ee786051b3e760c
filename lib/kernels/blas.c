#include "kernels/blas.h"

#include <cblas.h>

#include "base/pool.h"
#include "base/util.h"

void kern_set_threads(int n) {
  otc_set_threads(n);
  openblas_set_num_threads(otc_threads());
}

int kern_blas_serial_begin(void) {
  int n = openblas_get_num_threads();
  if (n > 1) openblas_set_num_threads(1);
  return n;
}

void kern_blas_serial_end(int saved) {
  if (saved > 1) openblas_set_num_threads(saved);
}

typedef struct {
  int ta, tb, M, N, K, lda, ldb, ldc, bycol;
  float alpha, beta;
  const float *A, *B;
  float *C;
} gemm_ctx;

/* Split points fall on multiples of 16 rows or columns (whole vector
 * tiles), and the longer side of C is split, so each worker packs its part
 * of the operand that side comes from. OpenBLAS computes an entry of C the
 * same way wherever it sits in a product, except in its small-matrix
 * kernels, taken when M N K <= 100^3 (the same bound as search/rank.c's
 * pad_cols): every block is kept above that bound, so a product is split
 * only when each part stays above it, and the result is the same for every
 * thread count. */
#define GEMM_UNIT 16
#define GEMM_SMALL_MNK 1000000.0
static void gemm_part(void *p, size_t b, size_t e) {
  const gemm_ctx *g = p;
  int lo = (int)b * GEMM_UNIT, hi = (int)e * GEMM_UNIT;
  CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans, tb = g->tb ? CblasTrans : CblasNoTrans;
  if (g->bycol) {
    if (hi > g->N) hi = g->N;
    const float *B = g->B + (g->tb ? (size_t)lo * g->ldb : (size_t)lo);
    cblas_sgemm(CblasRowMajor, ta, tb, g->M, hi - lo, g->K, g->alpha, g->A, g->lda, B, g->ldb, g->beta, g->C + lo,
                g->ldc);
  } else {
    if (hi > g->M) hi = g->M;
    const float *A = g->A + (g->ta ? (size_t)lo : (size_t)lo * g->lda);
    cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, g->N, g->K, g->alpha, A, g->lda, g->B, g->ldb, g->beta,
                g->C + (size_t)lo * g->ldc, g->ldc);
  }
}

void kern_sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  int threads = otc_threads(), bycol = N >= M;
  double mnk = (double)M * N * K;
  if (threads <= 1 || K <= 0 || mnk <= 2 * GEMM_SMALL_MNK) {
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  gemm_ctx g = {.ta = transa, .tb = transb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc,
                .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C, .bycol = bycol};
  /* A part of c units spans at least (c - 1) 16 + 1 rows or columns (the
   * last unit may be short); min_len of them keep it above the bound. */
  double other = (double)(bycol ? M : N) * K;
  size_t min_len = (size_t)(GEMM_SMALL_MNK / other) + 1;
  size_t min_units = (min_len - 1 + GEMM_UNIT - 1) / GEMM_UNIT + 1;
  size_t units = ((size_t)(bycol ? N : M) + GEMM_UNIT - 1) / GEMM_UNIT;
  int saved = kern_blas_serial_begin();
  pool_for(units, min_units, threads, gemm_part, &g);
  kern_blas_serial_end(saved);
}
