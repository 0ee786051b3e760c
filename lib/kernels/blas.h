/* kernels/blas.h: the one place that talks to OpenBLAS's own controls.
 * Layers that multiply matrices (model, ot, search, train) call cblas
 * directly; a program that links them sets the thread count here. */
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

#endif
