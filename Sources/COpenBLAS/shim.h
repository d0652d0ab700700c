// The numerics shim: OpenBLAS's CBLAS (sgemm/sgemv) and LAPACKE, from Debian's
// libopenblas-dev and liblapacke-dev.
#include <cblas.h>
#include <lapacke.h>
