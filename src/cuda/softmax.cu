// CUDA softmax / log-softmax over the last axis (twin of src/cpu/softmax.cpp), max-shifted:
//   softmax(x)_i = e^{x_i - m} / sum_j e^{x_j - m},  log_softmax(x)_i = x_i - m - log sum_j e^{x_j - m}.
// One warp per row when rows are short, one block per row when they are long; sums in float.
#include <cmath>

#include "cuda_common.hpp"
#include "row_reduce.cuh"

namespace rflow::cuda {

namespace {

// ---- kernel: G threads per row (G = 32, or G = 0 meaning the whole block) ----
//   m = max_j x_j,  s = sum_j e^{x_j - m}
//   y_i = e^{x_i - m} / s          (softmax)
//   y_i = (x_i - m) - log s        (log-softmax)
template <int G>
__global__ void softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int64_t n,
                               bool log) {
    __shared__ float shm[32];
    const int group = G == 32 ? 32 : static_cast<int>(blockDim.x);
    const int64_t groups_per_block = blockDim.x / group;
    const int64_t lane = threadIdx.x % group;
    // the loop condition is uniform over the group (a warp, or the whole block when G != 32)
    for (int64_t r = blockIdx.x * groups_per_block + threadIdx.x / group; r < rows;
         r += static_cast<int64_t>(gridDim.x) * groups_per_block) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        float m = -INFINITY;
        for (int64_t i = lane; i < n; i += group) m = fmaxf(m, xr[i]);
        m = group_reduce<G>(m, MaxOp{}, shm);
        float s = 0.f;
        for (int64_t i = lane; i < n; i += group) s += expf(xr[i] - m);
        s = group_reduce<G>(s, SumOp{}, shm);
        if (log) {
            const float ls = logf(s);
            for (int64_t i = lane; i < n; i += group) yr[i] = (xr[i] - m) - ls;
        } else {
            for (int64_t i = lane; i < n; i += group) yr[i] = expf(xr[i] - m) / s;
        }
    }
}

// ---- launcher: x and y contiguous [rows, n] on the device ----
void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log, cudaStream_t s) {
    if (rows <= 0 || n <= 0) return;
    if (n <= kWarpRowMax) {
        constexpr int64_t rows_per_block = kThreads / 32;
        softmax_kernel<32><<<capped_blocks((rows + rows_per_block - 1) / rows_per_block), kThreads, 0, s>>>(
            x, y, rows, n, log);
    } else {
        softmax_kernel<0><<<capped_blocks(rows), kThreads, 0, s>>>(x, y, rows, n, log);
    }
    RFLOW_CUDA_LAUNCHED();
}

}  // namespace

// ---- backend entry ----
void softmax(const Tensor& x_in, Tensor& out, bool log) {
    const Tensor x = contiguous_on_device(x_in, "softmax");
    const int64_t n = x.dim() ? x.size(-1) : 1;
    const int64_t rows = n ? x.numel() / n : 0;
    softmax_rows(dptr(x), dptr(out), rows, n, log, stream());
}

}  // namespace rflow::cuda
