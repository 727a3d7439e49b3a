// CUDA layer normalisation over the last axis, no affine part (twin of src/cpu/layer_norm.cpp):
//   y = (x - mean) / sqrt(var + eps),  var = mean((x - mean)^2)  (two passes, biased variance).
// One warp per row when rows are short, one block per row when they are long; sums in float.
#include <cmath>

#include "cuda_common.hpp"
#include "row_reduce.cuh"

namespace rflow::cuda {

namespace {

// ---- kernel: G threads per row (G = 32, or G = 0 meaning the whole block) ----
//   mean = sum_j x_j / n,  var = sum_j (x_j - mean)^2 / n,  y_i = (x_i - mean) * (1 / sqrt(var + eps))
template <int G>
__global__ void layer_norm_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int64_t n,
                                  float eps) {
    __shared__ float shm[32];
    const int group = G == 32 ? 32 : static_cast<int>(blockDim.x);
    const int64_t groups_per_block = blockDim.x / group;
    const int64_t lane = threadIdx.x % group;
    const float fn = static_cast<float>(n);
    // the loop condition is uniform over the group (a warp, or the whole block when G != 32)
    for (int64_t r = blockIdx.x * groups_per_block + threadIdx.x / group; r < rows;
         r += static_cast<int64_t>(gridDim.x) * groups_per_block) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        float s = 0.f;
        for (int64_t i = lane; i < n; i += group) s += xr[i];
        const float mean = group_reduce<G>(s, SumOp{}, shm) / fn;
        float ss = 0.f;
        for (int64_t i = lane; i < n; i += group) {
            const float c = xr[i] - mean;
            ss += c * c;
        }
        const float var = group_reduce<G>(ss, SumOp{}, shm) / fn;
        const float rstd = 1.f / sqrtf(var + eps);
        for (int64_t i = lane; i < n; i += group) yr[i] = (xr[i] - mean) * rstd;
    }
}

// ---- launcher: x and y contiguous [rows, n] on the device ----
void layer_norm_rows(const float* x, float* y, int64_t rows, int64_t n, float eps, cudaStream_t s) {
    if (rows <= 0 || n <= 0) return;
    if (n <= kWarpRowMax) {
        constexpr int64_t rows_per_block = kThreads / 32;
        layer_norm_kernel<32><<<capped_blocks((rows + rows_per_block - 1) / rows_per_block), kThreads, 0, s>>>(
            x, y, rows, n, eps);
    } else {
        layer_norm_kernel<0><<<capped_blocks(rows), kThreads, 0, s>>>(x, y, rows, n, eps);
    }
    RFLOW_CUDA_LAUNCHED();
}

}  // namespace

// ---- backend entry ----
void layer_norm(const Tensor& x_in, Tensor& out, float eps) {
    const Tensor x = contiguous_on_device(x_in, "layer_norm");
    const int64_t n = x.size(-1);
    const int64_t rows = n ? x.numel() / n : 0;
    layer_norm_rows(dptr(x), dptr(out), rows, n, eps, stream());
}

}  // namespace rflow::cuda
