#include "kernels/blas.h"

#include <cblas.h>

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
