/* kernels/blas.h: the one place that talks to OpenBLAS's own controls.
 * A program sets the thread count here; a parallel loop whose items call
 * cblas themselves wraps itself in kern_blas_serial_begin/end; a large
 * single product that should use every thread goes through kern_sgemm. */
#ifndef OTC_KERN_BLAS_H
#define OTC_KERN_BLAS_H

/* Set the thread count of our own loops (otc_threads) and of OpenBLAS;
 * n < 1: all cores. */
void kern_set_threads(int n);

/* Around a parallel loop (base/pool.h) whose items call cblas themselves:
 * OpenBLAS runs each call on the calling thread (its own workers would
 * fight ours for the cores), then gets its count back. Returns what
 * kern_blas_serial_end needs. */
int kern_blas_serial_begin(void);
void kern_blas_serial_end(int saved);

/* C = alpha op(A) op(B) + beta C in row-major order (cblas_sgemm's
 * arguments, transa/transb 0 or 1), C's longer side cut into otc_threads()
 * blocks, each a serial OpenBLAS call on one worker of base/pool.h: one
 * thread pool instead of two (OpenBLAS's idle threads spin while our pool
 * runs the element-wise kernels). Small products run serially. The result
 * is bit-identical for every thread count (blocks stay out of OpenBLAS's
 * small-matrix kernels, see blas.c). */
void kern_sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc);

#endif
