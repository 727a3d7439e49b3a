// Link-time stubs for builds without CUDA: the same public API, and a clear error on use.
#include "backend.hpp"
#include "rflow/error.hpp"

namespace rflow {

const char* cuda_build_arch() { return ""; }

namespace backend {

bool cuda_device_present() { return false; }

void cuda_synchronize() { cuda(); }  // the clear error

const Backend& cuda() {
    RFLOW_FAIL("this rflow was built without CUDA (configure with -Dcuda=enabled and nvcc on PATH); "
               "use Device::cpu");
}

}  // namespace backend
}  // namespace rflow
