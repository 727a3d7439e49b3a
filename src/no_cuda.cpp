// Link-time stubs for builds without CUDA: the same public API, and a clear error on use.
#include "backend.hpp"
#include "rflow/error.hpp"

namespace rflow {

bool cuda_available() { return false; }

namespace backend {

const Backend& cuda() {
    RFLOW_FAIL("this rflow was built without CUDA (configure with -Dcuda=enabled and nvcc on PATH); "
               "use Device::cpu");
}

}  // namespace backend
}  // namespace rflow
