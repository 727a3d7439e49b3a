// The CPU backend table: aligned host memory plus the entries in src/cpu/*.cpp.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "../backend.hpp"
#include "rflow/error.hpp"

namespace rflow::cpu {

#include "../backend_entries.inc"

// Entries only this backend fills (the CUDA table leaves them null): src/cpu/group_norm.cpp
void group_norm_silu(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out, Tensor& mean,
                     Tensor& rstd, int64_t groups, float eps);
void group_norm_silu_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                              const Tensor& rstd, const Tensor& grad, Tensor& dx, Tensor& dweight, Tensor& dbias,
                              int64_t groups);

namespace {

// A small caching allocator: freed blocks are kept per exact size and reused, so a training
// loop that allocates the same activations every step stops paying for fresh pages (page
// faults and zeroing by the kernel). At most kCacheLimit bytes are kept.
constexpr size_t kCacheLimit = size_t{1} << 30;

struct BlockCache {
    std::mutex mutex;
    std::unordered_map<size_t, std::vector<void*>> free_blocks;
    std::unordered_map<void*, size_t> sizes;
    size_t cached = 0;
};

BlockCache& cache() {
    static BlockCache* c = new BlockCache();  // never destroyed: tensors may outlive static teardown
    return *c;
}

float* alloc(int64_t numel) {
    // 64-byte alignment for AVX-512 loads; at least one element so empty tensors own a pointer.
    const size_t bytes = (static_cast<size_t>(std::max<int64_t>(numel, 1)) * sizeof(float) + 63) / 64 * 64;
    BlockCache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        auto it = c.free_blocks.find(bytes);
        if (it != c.free_blocks.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.cached -= bytes;
            return static_cast<float*>(p);
        }
    }
    void* p = std::aligned_alloc(64, bytes);
    RFLOW_CHECK(p, "out of host memory allocating " << bytes << " bytes");
    std::lock_guard<std::mutex> lock(c.mutex);
    c.sizes[p] = bytes;
    return static_cast<float*>(p);
}

void release(float* ptr) {
    if (!ptr) return;
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    const size_t bytes = c.sizes.at(ptr);
    if (c.cached + bytes <= kCacheLimit) {
        c.free_blocks[bytes].push_back(ptr);
        c.cached += bytes;
    } else {
        c.sizes.erase(ptr);
        std::free(ptr);
    }
}

void host_copy(const float* src, float* dst, int64_t n) {
    if (n > 0) std::memcpy(dst, src, n * sizeof(float));  // an empty tensor may have no storage (null)
}

}  // namespace

}  // namespace rflow::cpu

namespace rflow::backend {

const Backend& cpu() {
    static const Backend table{
        cpu::alloc,   cpu::release, cpu::copy,   cpu::host_copy, cpu::host_copy, cpu::fill,
        cpu::uniform, cpu::normal,  cpu::unary,  cpu::binary,    cpu::where,     cpu::reduce,
        cpu::gemm,    cpu::softmax, cpu::layer_norm, cpu::index_select, cpu::index_add,
        cpu::conv2d,  cpu::conv2d_input, cpu::conv2d_weight, cpu::group_norm, cpu::group_norm_backward,
        cpu::group_norm_silu, cpu::group_norm_silu_backward,
        cpu::upsample_nearest2d, cpu::sum_pool2d, cpu::attention, cpu::attention_backward,
    };
    return table;
}

namespace {

// > 0 while an emulated-CUDA entry runs (process-wide: the CPU kernels fan out to worker threads)
std::atomic<int> g_emulated_depth{0};

// Entry F of the CPU table run as the emulated CUDA device's: while it runs, the CPU kernels may
// read the host memory behind CUDA-tagged tensors (Tensor::data() refuses everyone else).
template <auto F>
struct Emulated;
template <class R, class... A, R (*F)(A...)>
struct Emulated<F> {
    static R call(A... a) {
        struct Depth {
            Depth() { ++g_emulated_depth; }
            ~Depth() { --g_emulated_depth; }
        } depth;
        return F(a...);
    }
};

const Backend& emulated_cuda() {
    static const Backend table{
        Emulated<cpu::alloc>::call,   Emulated<cpu::release>::call, Emulated<cpu::copy>::call,
        Emulated<cpu::host_copy>::call, Emulated<cpu::host_copy>::call, Emulated<cpu::fill>::call,
        Emulated<cpu::uniform>::call, Emulated<cpu::normal>::call,  Emulated<cpu::unary>::call,
        Emulated<cpu::binary>::call,  Emulated<cpu::where>::call,   Emulated<cpu::reduce>::call,
        Emulated<cpu::gemm>::call,    Emulated<cpu::softmax>::call, Emulated<cpu::layer_norm>::call,
        Emulated<cpu::index_select>::call, Emulated<cpu::index_add>::call, Emulated<cpu::conv2d>::call,
        Emulated<cpu::conv2d_input>::call, Emulated<cpu::conv2d_weight>::call, Emulated<cpu::group_norm>::call,
        Emulated<cpu::group_norm_backward>::call, Emulated<cpu::group_norm_silu>::call,
        Emulated<cpu::group_norm_silu_backward>::call, Emulated<cpu::upsample_nearest2d>::call,
        Emulated<cpu::sum_pool2d>::call, Emulated<cpu::attention>::call, Emulated<cpu::attention_backward>::call,
    };
    return table;
}

}  // namespace

bool in_emulated_kernel() { return g_emulated_depth > 0; }

const Backend& get(Device d) {
    if (d == Device::cpu) return cpu();
    return cuda_emulated() ? emulated_cuda() : cuda();  // emulation: host memory tagged as CUDA
}

}  // namespace rflow::backend
