// CUDA layer normalisation over the last axis, no affine part (twin of src/cpu/layer_norm.cpp):
//   y = (x - mean) / sqrt(var + eps),  var = mean((x - mean)^2)  (two passes, biased variance).
// One warp per row when rows are short, one block per row when they are long; sums in float.
#include <cmath>

#include "cuda_common.hpp"

namespace rflow::cuda {

namespace {

constexpr int64_t kWarpRowMax = 1024;  ///< rows up to this length get one warp, longer ones a block
constexpr unsigned kFull = 0xffffffffu;

__device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
    return v;
}

/// Sum over the threads that share a row: a warp (G = 32) or the whole block (G = 0).
/// `shm` holds one float per warp; every thread of the group gets the result.
template <int G>
__device__ float group_sum(float v, float* shm) {
    v = warp_sum(v);
    if constexpr (G == 32) {
        return v;
    } else {
        const int warps = blockDim.x / 32;
        __syncthreads();  // shm may still be read by the previous reduction
        if (threadIdx.x % 32 == 0) shm[threadIdx.x / 32] = v;
        __syncthreads();
        v = shm[0];
        for (int w = 1; w < warps; ++w) v += shm[w];
        return v;
    }
}

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
        const float mean = group_sum<G>(s, shm) / fn;
        float ss = 0.f;
        for (int64_t i = lane; i < n; i += group) {
            const float c = xr[i] - mean;
            ss += c * c;
        }
        const float var = group_sum<G>(ss, shm) / fn;
        const float rstd = 1.f / sqrtf(var + eps);
        for (int64_t i = lane; i < n; i += group) yr[i] = (xr[i] - mean) * rstd;
    }
}

unsigned capped_blocks(int64_t b) { return static_cast<unsigned>(b < 1 ? 1 : (b > (1 << 20) ? (1 << 20) : b)); }

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
