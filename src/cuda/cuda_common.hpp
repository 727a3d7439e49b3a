// Shared plumbing of the CUDA backend (internal): error checks, the device context (one stream and
// one cuBLAS handle), launch geometry, device pointers of tensors, strided indexing inside kernels,
// and scratch buffers from the caching allocator. Included by .cu and .cpp files alike; no Eigen.
//
// Every CUDA file has three layers (DESIGN §3): the kernel, a launcher taking raw pointers and a
// stream, and the backend entry point taking tensors.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "../backend.hpp"
#include "../common/philox_math.hpp"  // RFLOW_HD
#include "../core/tensor_impl.hpp"
#include "rflow/error.hpp"

/// Throws rflow::Error naming the failed CUDA call and the runtime's message.
#define RFLOW_CUDA_CHECK(expr)                                                                  \
    do {                                                                                        \
        const cudaError_t rflow_cuda_err_ = (expr);                                             \
        RFLOW_CHECK(rflow_cuda_err_ == cudaSuccess,                                             \
                    "CUDA error in " #expr ": " << cudaGetErrorString(rflow_cuda_err_));         \
    } while (0)

#define RFLOW_CUBLAS_CHECK(expr)                                                                \
    do {                                                                                        \
        const cublasStatus_t rflow_blas_st_ = (expr);                                           \
        RFLOW_CHECK(rflow_blas_st_ == CUBLAS_STATUS_SUCCESS,                                    \
                    "cuBLAS error in " #expr ": " << cublasGetStatusString(rflow_blas_st_));     \
    } while (0)

/// After a kernel launch: reports a bad launch configuration at once (execution errors surface at
/// the next synchronising call, e.g. a copy to the host).
#define RFLOW_CUDA_LAUNCHED() RFLOW_CUDA_CHECK(cudaGetLastError())

namespace rflow::cuda {

/// The process's CUDA state: one GPU (`device`: the local rank's under a launcher, else 0; every
/// thread calling context() is bound to it), all work queued on `stream`, `blas` bound to it.
struct Context {
    int device = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
};

/// The context, created on first use (throws rflow::Error when no GPU answers).
Context& context();
inline cudaStream_t stream() { return context().stream; }
/// The cuBLAS handle with its math mode set from rflow::allow_tf32() (TF32 tensor cores or FP32):
/// every GEMM, convolutions' included, takes the handle from here.
cublasHandle_t blas();

/// Caching device allocator (src/cuda/allocator.cpp): blocks are rounded up and kept per size
/// after release, so a training loop stops calling cudaMalloc/cudaFree after its first step.
float* alloc(int64_t numel);
void release(float* ptr);
/// Raw bytes from the same cache (index lists, partial sums); release with release_bytes.
void* alloc_bytes(size_t bytes);
void release_bytes(void* ptr);

/// A scratch device array of T, freed at scope exit (stream-ordered reuse is safe: one stream).
template <class T>
class DeviceArray {
public:
    explicit DeviceArray(size_t n) : n_(n), p_(static_cast<T*>(alloc_bytes(sizeof(T) * (n ? n : 1)))) {}
    /// A device copy of host values.
    explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
        if (n_)
            RFLOW_CUDA_CHECK(cudaMemcpyAsync(p_, host.data(), sizeof(T) * n_, cudaMemcpyHostToDevice, stream()));
    }
    ~DeviceArray() { release_bytes(p_); }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;
    T* get() const { return p_; }
    size_t size() const { return n_; }

private:
    size_t n_;
    T* p_;
};

constexpr int kThreads = 256;  ///< threads per block of the element-wise kernels

/// Blocks for a grid-stride loop over n elements (capped; the loop covers the rest).
inline unsigned grid_for(int64_t n) {
    const int64_t b = (n + kThreads - 1) / kThreads;
    return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

/// Device pointer to element [0, ..., 0] of a CUDA tensor (Tensor::data() is for CPU tensors).
inline float* dptr(const Tensor& t) { return t.impl()->data(); }

/// A tensor known to live on the GPU (clear error otherwise), made contiguous when it is not.
Tensor contiguous_on_device(const Tensor& t, const char* what);

constexpr int kMaxDims = 8;

/// Shape and element strides of an operand, passed by value to kernels: at(i) is the storage
/// offset of the i-th element in row-major order. Adjacent dimensions that are contiguous for all
/// operands are merged first, so ranks above kMaxDims only fail for truly scattered views.
struct StridedIndex {
    int rank = 0;
    int64_t sizes[kMaxDims] = {};
    int64_t strides[kMaxDims] = {};

    RFLOW_HD int64_t at(int64_t i) const {
        int64_t off = 0;
        for (int d = rank - 1; d >= 0; --d) {
            const int64_t q = i / sizes[d];
            off += (i - q * sizes[d]) * strides[d];
            i = q;
        }
        return off;
    }
};

/// Indexers of N same-shape operands (shape `shape`, their strides), with shared dims coalesced.
std::vector<StridedIndex> strided_indices(const Shape& shape, const std::vector<const std::vector<int64_t>*>& strides);

}  // namespace rflow::cuda
