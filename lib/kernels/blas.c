#include "kernels/blas.h"

#include <cblas.h>

#include "base/util.h"

void kern_set_threads(int n) {
  otc_set_threads(n);
  openblas_set_num_threads(otc_threads());
}
