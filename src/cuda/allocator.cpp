// The caching device allocator of the CUDA backend.
//
// cudaMalloc/cudaFree synchronise the device and cost tens of microseconds, so a training step that
// allocates hundreds of activations would spend its time there. Blocks are rounded up (to 512 bytes
// below 1 MiB, to 2 MiB above) and kept per rounded size when released; the next request of that
// size takes one back. All work runs on the one stream of the context, so a block released here
// and handed out again is only touched by kernels queued after those that used it: no event
// bookkeeping is needed. When cudaMalloc fails, the cache is emptied and the call retried once.
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda_common.hpp"

namespace rflow::cuda {

namespace {

constexpr size_t kSmall = size_t{1} << 20;        // 1 MiB
constexpr size_t kCacheLimit = size_t{16} << 30;  // keep at most 16 GiB of free blocks

size_t round_size(size_t bytes) {
    if (bytes == 0) bytes = 1;
    const size_t q = bytes < kSmall ? 512 : (size_t{2} << 20);
    return (bytes + q - 1) / q * q;
}

struct Cache {
    std::mutex mutex;
    std::unordered_map<size_t, std::vector<void*>> free_blocks;  // rounded size -> free blocks
    std::unordered_map<void*, size_t> sizes;                     // every live or cached block
    size_t cached = 0;

    // Frees every cached block (the caller holds the mutex).
    void empty() {
        for (auto& [bytes, list] : free_blocks)
            for (void* p : list) {
                cudaFree(p);
                sizes.erase(p);
            }
        free_blocks.clear();
        cached = 0;
    }
};

Cache& cache() {
    static Cache* c = new Cache();  // never destroyed: tensors may be released during static teardown
    return *c;
}

}  // namespace

void* alloc_bytes(size_t request) {
    const size_t bytes = round_size(request);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(bytes);
    if (it != c.free_blocks.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        c.cached -= bytes;
        return p;
    }
    context();  // a clear error when no GPU answers, before the first cudaMalloc
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky out-of-memory error, free the cache, try again
        c.empty();
        const cudaError_t e = cudaMalloc(&p, bytes);
        RFLOW_CHECK(e == cudaSuccess, "out of GPU memory allocating " << bytes << " bytes ("
                                          << cudaGetErrorString(e) << "); use a smaller batch");
    }
    c.sizes[p] = bytes;
    return p;
}

void release_bytes(void* p) {
    if (!p) return;
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.sizes.find(p);
    if (it == c.sizes.end()) return;  // not ours: never throw from a destructor path
    const size_t bytes = it->second;
    if (c.cached + bytes <= kCacheLimit) {
        c.free_blocks[bytes].push_back(p);
        c.cached += bytes;
    } else {
        c.sizes.erase(it);
        cudaFree(p);  // errors ignored: this runs from destructors, possibly after driver shutdown
    }
}

float* alloc(int64_t numel) {
    return static_cast<float*>(alloc_bytes(static_cast<size_t>(numel > 0 ? numel : 1) * sizeof(float)));
}

void release(float* ptr) { release_bytes(ptr); }

}  // namespace rflow::cuda
