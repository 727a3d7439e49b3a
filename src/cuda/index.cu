// CUDA gather/scatter along one axis (twin of src/cpu/index.cpp): index_select and its adjoint
// index_add. The tensor is viewed as [outer, size(dim), inner]; each index moves one inner block.
#include "../common/axis_split.hpp"
#include "cuda_common.hpp"

namespace rflow::cuda {

namespace {

// ---- kernels ----

/// out[o, j, i] = x[o, index[j], i]   (out is [outer, k, inner], x is [outer, n, inner]).
__global__ void select_kernel(const float* x, const int64_t* index, float* out, int64_t outer, int64_t n, int64_t k,
                              int64_t inner) {
    const int64_t total = outer * k * inner;
    for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
         e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t i = e % inner, j = (e / inner) % k, o = e / (inner * k);
        out[e] = x[(o * n + index[j]) * inner + i];
    }
}

/// out[o, index[j], i] += src[o, j, i]; repeated indices add up (atomically: their order may vary,
/// so sums over repeats can differ in the last bits between runs).
__global__ void add_kernel(float* out, const int64_t* index, const float* src, int64_t outer, int64_t n, int64_t k,
                           int64_t inner) {
    const int64_t total = outer * k * inner;
    for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
         e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t i = e % inner, j = (e / inner) % k, o = e / (inner * k);
        atomicAdd(out + (o * n + index[j]) * inner + i, src[e]);
    }
}

// ---- launchers ----

void launch_select(const float* x, const int64_t* index, float* out, int64_t outer, int64_t n, int64_t k,
                   int64_t inner, cudaStream_t s) {
    if (outer * k * inner == 0) return;
    select_kernel<<<grid_for(outer * k * inner), kThreads, 0, s>>>(x, index, out, outer, n, k, inner);
    RFLOW_CUDA_LAUNCHED();
}

void launch_add(float* out, const int64_t* index, const float* src, int64_t outer, int64_t n, int64_t k,
                int64_t inner, cudaStream_t s) {
    if (outer * k * inner == 0) return;
    add_kernel<<<grid_for(outer * k * inner), kThreads, 0, s>>>(out, index, src, outer, n, k, inner);
    RFLOW_CUDA_LAUNCHED();
}


}  // namespace

// ---- entry points ----

void index_select(const Tensor& x_in, int64_t dim, const std::vector<int64_t>& index, Tensor& out) {
    const Tensor x = contiguous_on_device(x_in, "index_select");
    int64_t outer, inner;
    detail::split_at_axis(x.shape(), dim, outer, inner);
    const DeviceArray<int64_t> idx(index);
    launch_select(dptr(x), idx.get(), dptr(out), outer, x.size(dim), static_cast<int64_t>(index.size()), inner,
                  stream());
}

void index_add(Tensor& out, int64_t dim, const std::vector<int64_t>& index, const Tensor& src_in) {
    const Tensor src = contiguous_on_device(src_in, "index_add");
    int64_t outer, inner;
    detail::split_at_axis(out.shape(), dim, outer, inner);
    const DeviceArray<int64_t> idx(index);
    launch_add(dptr(out), idx.get(), dptr(src), outer, out.size(dim), static_cast<int64_t>(index.size()), inner,
               stream());
}

}  // namespace rflow::cuda
