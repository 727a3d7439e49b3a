// The CPU backend table: aligned host memory plus the entries in src/cpu/*.cpp.
#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
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
// faults and zeroing by the kernel). At most kCacheLimit bytes are kept, and kept blocks never
// raise the footprint (live + cached) above the most memory ever live at once: a request the cache
// cannot serve first gives back cached blocks, largest first, until it fits under that mark. (Kept
// blocks of other sizes had nearly doubled U-Net sampling's footprint: 301 MiB live at most,
// 577 MiB live + cached. The price is fresh pages for what was given back: U-Net sampling at
// batch 256 runs 13-18 % slower, training 4 %, for 35 % and 15 % less resident memory.)
constexpr size_t kCacheLimit = size_t{1} << 30;

struct BlockCache {
    std::mutex mutex;
    std::map<size_t, std::vector<void*>> free_blocks;  // by size, never an empty list
    std::unordered_map<void*, size_t> sizes;
    size_t cached = 0, live = 0, peak_live = 0;  // bytes
};

// Blocks from 1 MiB up come straight from mmap and go straight back with munmap: through malloc,
// a freed block often stays in the process (glibc raises its mmap threshold after each large free
// and keeps what it frees on its heap), so the resident size would not follow the footprint.
constexpr size_t kMapBytes = size_t{1} << 20;

void* fresh_block(size_t bytes) {
    if (bytes < kMapBytes) return std::aligned_alloc(64, bytes);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;  // page-aligned
}

void free_block(void* p, size_t bytes) {
    if (bytes < kMapBytes) std::free(p);
    else munmap(p, bytes);
}

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
            if (it->second.empty()) c.free_blocks.erase(it);
            c.cached -= bytes;
            c.live += bytes;
            return static_cast<float*>(p);
        }
        const size_t mark = std::max(c.peak_live, c.live + bytes);
        while (c.live + c.cached + bytes > mark && !c.free_blocks.empty()) {  // make room first
            const auto largest = std::prev(c.free_blocks.end());
            void* q = largest->second.back();
            const size_t largest_size = largest->first;
            c.cached -= largest_size;
            largest->second.pop_back();
            if (largest->second.empty()) c.free_blocks.erase(largest);
            c.sizes.erase(q);
            free_block(q, largest_size);
        }
    }
    void* p = fresh_block(bytes);
    RFLOW_CHECK(p, "out of host memory allocating " << bytes << " bytes");
    std::lock_guard<std::mutex> lock(c.mutex);
    c.sizes[p] = bytes;
    c.live += bytes;
    c.peak_live = std::max(c.peak_live, c.live);
    return static_cast<float*>(p);
}

void release(float* ptr) {
    if (!ptr) return;
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    const size_t bytes = c.sizes.at(ptr);
    c.live -= bytes;
    if (c.cached + bytes <= kCacheLimit) {
        c.free_blocks[bytes].push_back(ptr);
        c.cached += bytes;
    } else {
        c.sizes.erase(ptr);
        free_block(ptr, bytes);
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
