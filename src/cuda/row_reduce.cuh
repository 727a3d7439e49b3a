// Device-side reductions shared by the row kernels (softmax, layer norm, attention): warp
// shuffles and a group reduction over a warp or a whole block. Internal header for .cu files.
#pragma once

#include <cstdint>

namespace rflow::cuda {

constexpr unsigned kFullWarp = 0xffffffffu;
/// Rows up to this length get one warp, longer ones a whole block.
constexpr int64_t kWarpRowMax = 1024;

struct MaxOp {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOp {
    __device__ float operator()(float a, float b) const { return a + b; }
};

/// op over the 32 lanes of a warp (butterfly): every lane gets the result.
template <class Op>
__device__ inline float warp_reduce(float v, Op op) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(kFullWarp, v, o));
    return v;
}
__device__ inline float warp_sum(float v) { return warp_reduce(v, SumOp{}); }
__device__ inline float warp_max(float v) { return warp_reduce(v, MaxOp{}); }

/// op over the threads that share a row: a warp (G = 32) or the whole block (G = 0). `shm` holds
/// one float per warp; every thread of the group gets the result.
template <int G, class Op>
__device__ inline float group_reduce(float v, Op op, float* shm) {
    v = warp_reduce(v, op);
    if constexpr (G == 32) {
        return v;
    } else {
        const int warps = blockDim.x / 32;
        __syncthreads();  // shm may still be read by the previous reduction
        if (threadIdx.x % 32 == 0) shm[threadIdx.x / 32] = v;
        __syncthreads();
        v = shm[0];
        for (int w = 1; w < warps; ++w) v = op(v, shm[w]);
        return v;
    }
}

/// Grid size for one row (or one group of rows) per block, capped (the kernels loop over the rest).
inline unsigned capped_blocks(int64_t b) {
    return static_cast<unsigned>(b < 1 ? 1 : (b > (1 << 20) ? (1 << 20) : b));
}

}  // namespace rflow::cuda
