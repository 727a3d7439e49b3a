// Device queries (a usable GPU, emulation, TF32) and the CPU thread count of GEMM-bound work.
#include <Eigen/Core>
#ifdef RFLOW_HAVE_CBLAS
#include <cblas.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "../backend.hpp"
#include "rflow/device.hpp"

namespace rflow {

bool cuda_emulated() {
    static const bool on = [] {
        const char* v = std::getenv("RFLOW_EMULATE_CUDA");
        return v && std::strcmp(v, "1") == 0 && !backend::cuda_device_present();
    }();
    return on;
}

bool cuda_available() { return cuda_emulated() || backend::cuda_device_present(); }

void synchronize(Device d) {
    if (d == Device::cuda && !cuda_emulated()) backend::cuda_synchronize();
}

namespace {
std::atomic<bool> g_allow_tf32{false};
}

void set_allow_tf32(bool on) { g_allow_tf32 = on; }
bool allow_tf32() { return g_allow_tf32; }

void set_num_threads(int n) {
    Eigen::setNbThreads(n > 0 ? n : 0);
#ifdef RFLOW_HAVE_CBLAS
    openblas_set_num_threads(1);  // GEMMs are split across our own threads (src/cpu/gemm.cpp)
#endif
}

int num_threads() { return Eigen::nbThreads(); }

}  // namespace rflow
