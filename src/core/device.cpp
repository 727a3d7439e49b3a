// Device names and the CPU thread count used by GEMM-bound and element-wise work.
#include <Eigen/Core>
#ifdef RFLOW_HAVE_CBLAS
#include <cblas.h>
#endif

#include "rflow/device.hpp"

namespace rflow {

void set_num_threads(int n) {
    Eigen::setNbThreads(n > 0 ? n : 0);
#ifdef RFLOW_HAVE_CBLAS
    openblas_set_num_threads(1);  // GEMMs are split across our own threads (src/cpu/gemm.cpp)
#endif
}

int num_threads() { return Eigen::nbThreads(); }

}  // namespace rflow
