// Device names and the CPU thread count used by GEMM-bound work.
#include <Eigen/Core>

#include "rflow/device.hpp"

namespace rflow {

void set_num_threads(int n) { Eigen::setNbThreads(n > 0 ? n : 0); }

int num_threads() { return Eigen::nbThreads(); }

}  // namespace rflow
