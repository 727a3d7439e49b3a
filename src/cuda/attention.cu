// CUDA scaled dot-product attention with grouped heads (twin of src/cpu/attention.cpp): an online
// softmax over key tiles, so no Lq x Lk matrix is ever stored, and a deterministic backward (no
// atomics) that recomputes the probabilities from the saved row log-sum-exp.
//
// Shapes: q [B, H, Lq, Dk], k [B, G, Lk, Dk], v [B, G, Lk, Dv], out [B, H, Lq, Dv], lse [B, H, Lq];
// head h reads group h G / H; query i sits at absolute position Lk - Lq + i and, when causal, sees
// the keys j <= Lk - Lq + i. A row that sees no key (causal with Lq > Lk, which the frontend
// rejects) gets out = 0 / 0 = NaN, lse = -inf and dq = 0. The backward overwrites dq, dk and dv.
//
// Work split (one warp per row, 8 rows per block, tiles of 32 keys or queries, one per lane):
//   forward : a warp per query row; lane t scores key j0 + t; the warp keeps m, l and its slice
//             of the output accumulator (lanes stride over the value columns).
//   dq      : a warp per query row, the same loop over key tiles.
//   dk, dv  : a warp per key row of a group, looping over the group's heads and their queries.
// Scores are dot products over the whole head dimension, staged through shared memory in chunks
// of kC columns; accumulators hold at most 32 N columns per lane-strided row, so a wider head
// dimension is split over blockIdx.y (each slice recomputes the scores it needs).
#include <algorithm>
#include <cmath>

#include "cuda_common.hpp"
#include "row_reduce.cuh"

namespace rflow::cuda {

namespace {

constexpr int kRows = 8;    ///< warps (rows) per block
constexpr int kTile = 32;   ///< keys (forward, dq) or queries (dk/dv) per tile: one per lane
constexpr int kC = 64;      ///< columns per staged chunk of a dot product
constexpr int kBlock = kRows * 32;
constexpr unsigned kFull = kFullWarp;

__device__ int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ int64_t lmax(int64_t a, int64_t b) { return a < b ? b : a; }


/// dst[t][c] = src[t D + col0 + c] for t < nrows and col0 + c < D, else 0 (kTile rows of W columns).
/// Called by the whole block; visible after the caller's next __syncthreads.
__device__ void load_tile(float* dst, int w, const float* src, int nrows, int64_t d, int64_t col0) {
    for (int idx = threadIdx.x; idx < kTile * w; idx += blockDim.x) {
        const int t = idx / w, c = idx % w;
        dst[idx] = (t < nrows && col0 + c < d) ? src[t * d + col0 + c] : 0.f;
    }
}

/// Lane t of warp r gets sum_{c < D} a[t D + c] * row_r[c]: a is a tile of na rows (the others
/// count as zero) and row_r the row of warp r (nullptr: zero). Called by the whole block; the
/// columns go through shared memory kC at a time (stage: kTile x (kC + 1), padded against bank
/// conflicts; rowbuf: kRows x kC).
__device__ float tile_dots(const float* a, int na, const float* row, int64_t d, float* stage, float* rowbuf) {
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32;
    float acc = 0.f;
    for (int64_t d0 = 0; d0 < d; d0 += kC) {
        const int nc = static_cast<int>(lmin(kC, d - d0));
        __syncthreads();  // the previous chunk's readers are done
        for (int idx = threadIdx.x; idx < kTile * kC; idx += blockDim.x) {
            const int t = idx / kC, c = idx % kC;
            stage[t * (kC + 1) + c] = (t < na && c < nc) ? a[t * d + d0 + c] : 0.f;
        }
        for (int c = lane; c < kC; c += 32) rowbuf[w * kC + c] = (row && c < nc) ? row[d0 + c] : 0.f;
        __syncthreads();
        for (int c = 0; c < nc; ++c) acc += stage[lane * (kC + 1) + c] * rowbuf[w * kC + c];
    }
    return acc;
}

struct Dims {
    int64_t b, h, g, lq, lk, dk, dv;
};

// ---- forward: one warp per query row i of head bh, over key tiles j0 .. j0 + 31 ----
//   s_j = scale q_i . k_j (-inf when masked),  m' = max(m, max_j s_j),  p_j = e^{s_j - m'}
//   l = l e^{m - m'} + sum_j p_j,  acc = acc e^{m - m'} + sum_j p_j v_j
//   out_i = acc / l,  lse_i = m + log l
template <int N>
__global__ void attention_fwd_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                     const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse,
                                     Dims d, float scale, bool causal, int64_t qblocks) {
    constexpr int W = 32 * N;  // output columns of this block: [v0, v0 + W)
    __shared__ float stage[kTile * (kC + 1)], rowbuf[kRows * kC], vt[kTile * W];
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32;
    const int64_t bh = blockIdx.x / qblocks, i0 = (blockIdx.x % qblocks) * kRows, i = i0 + w;
    const int64_t grp = (bh % d.h) * d.g / d.h, bg = (bh / d.h) * d.g + grp, v0 = int64_t{blockIdx.y} * W;
    const bool active = i < d.lq;  // uniform over the warp
    const float* qrow = active ? q + (bh * d.lq + i) * d.dk : nullptr;
    const float* kg = k + bg * d.lk * d.dk;
    const float* vg = v + bg * d.lk * d.dv;
    const int64_t off = d.lk - d.lq, i_last = lmin(i0 + kRows, d.lq) - 1;
    const int64_t kend = causal ? lmax(0, lmin(d.lk, off + i_last + 1)) : d.lk;  // the block's keys
    const int64_t my_end = causal ? lmin(d.lk, off + i + 1) : d.lk;              // this row's keys
    float m = -INFINITY, l = 0.f, acc[N];
#pragma unroll
    for (int c = 0; c < N; ++c) acc[c] = 0.f;
    for (int64_t j0 = 0; j0 < kend; j0 += kTile) {
        const int nk = static_cast<int>(lmin(kTile, kend - j0));
        __syncthreads();  // the previous tile's readers of vt are done
        load_tile(vt, W, vg + j0 * d.dv, nk, d.dv, v0);
        float s = tile_dots(kg + j0 * d.dk, nk, qrow, d.dk, stage, rowbuf);
        __syncthreads();  // vt visible (also when Dk = 0)
        if (!active) continue;
        const bool seen = j0 + lane < my_end;
        s = seen ? scale * s : -INFINITY;
        const float tmax = warp_max(s);
        if (tmax == -INFINITY) continue;  // no visible key in this tile (uniform over the warp)
        const float m_new = fmaxf(m, tmax);
        const float alpha = expf(m - m_new);  // 0 while m = -inf (l and acc are still 0)
        const float p = seen ? expf(s - m_new) : 0.f;
        l = l * alpha + warp_sum(p);
#pragma unroll
        for (int c = 0; c < N; ++c) acc[c] *= alpha;
        for (int t = 0; t < nk; ++t) {
            const float pt = __shfl_sync(kFull, p, t);
#pragma unroll
            for (int c = 0; c < N; ++c) acc[c] += pt * vt[t * W + lane + 32 * c];
        }
        m = m_new;
    }
    if (!active) return;
#pragma unroll
    for (int c = 0; c < N; ++c) {
        const int64_t col = v0 + lane + 32 * c;
        if (col < d.dv) out[(bh * d.lq + i) * d.dv + col] = acc[c] / l;
    }
    if (blockIdx.y == 0 && lane == 0) lse[bh * d.lq + i] = m + logf(l);
}

// ---- backward, step 1: delta_i = sum_d dout_id out_id (one warp per row) ----
__global__ void attention_delta_kernel(const float* __restrict__ out, const float* __restrict__ dout,
                                       float* __restrict__ delta, int64_t rows, int64_t dv) {
    const int lane = threadIdx.x % 32;
    const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
    for (int64_t r = int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
        float s = 0.f;
        for (int64_t c = lane; c < dv; c += 32) s += dout[r * dv + c] * out[r * dv + c];
        s = warp_sum(s);
        if (lane == 0) delta[r] = s;
    }
}

// ---- backward, step 2: one warp per query row i, over key tiles (P recomputed from lse) ----
//   p_ij = e^{scale q_i . k_j - lse_i} (0 when masked),  dp_ij = dout_i . v_j,
//   ds_ij = p_ij (dp_ij - delta_i),  dq_i = scale sum_j ds_ij k_j
template <int N>
__global__ void attention_dq_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                    const float* __restrict__ v, const float* __restrict__ dout,
                                    const float* __restrict__ lse, const float* __restrict__ delta,
                                    float* __restrict__ dq, Dims d, float scale, bool causal, int64_t qblocks) {
    constexpr int W = 32 * N;  // dq columns of this block: [c0, c0 + W)
    __shared__ float stage[kTile * (kC + 1)], rowbuf[kRows * kC], kt[kTile * W];
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32;
    const int64_t bh = blockIdx.x / qblocks, i0 = (blockIdx.x % qblocks) * kRows, i = i0 + w;
    const int64_t grp = (bh % d.h) * d.g / d.h, bg = (bh / d.h) * d.g + grp, c0 = int64_t{blockIdx.y} * W;
    const bool active = i < d.lq;
    const int64_t row = bh * d.lq + i;
    const float* qrow = active ? q + row * d.dk : nullptr;
    const float* dorow = active ? dout + row * d.dv : nullptr;
    const float lse_i = active ? lse[row] : 0.f, delta_i = active ? delta[row] : 0.f;
    const float* kg = k + bg * d.lk * d.dk;
    const float* vg = v + bg * d.lk * d.dv;
    const int64_t off = d.lk - d.lq, i_last = lmin(i0 + kRows, d.lq) - 1;
    const int64_t kend = causal ? lmax(0, lmin(d.lk, off + i_last + 1)) : d.lk;
    const int64_t my_end = causal ? lmin(d.lk, off + i + 1) : d.lk;
    float acc[N];
#pragma unroll
    for (int c = 0; c < N; ++c) acc[c] = 0.f;
    for (int64_t j0 = 0; j0 < kend; j0 += kTile) {
        const int nk = static_cast<int>(lmin(kTile, kend - j0));
        __syncthreads();
        load_tile(kt, W, kg + j0 * d.dk, nk, d.dk, c0);
        const float s = tile_dots(kg + j0 * d.dk, nk, qrow, d.dk, stage, rowbuf);
        const float dp = tile_dots(vg + j0 * d.dv, nk, dorow, d.dv, stage, rowbuf);
        __syncthreads();
        if (!active) continue;
        const bool seen = j0 + lane < my_end;
        const float ds = seen ? expf(scale * s - lse_i) * (dp - delta_i) : 0.f;
        for (int t = 0; t < nk; ++t) {
            const float dst = __shfl_sync(kFull, ds, t);
#pragma unroll
            for (int c = 0; c < N; ++c) acc[c] += dst * kt[t * W + lane + 32 * c];
        }
    }
    if (!active) return;
#pragma unroll
    for (int c = 0; c < N; ++c) {
        const int64_t col = c0 + lane + 32 * c;
        if (col < d.dk) dq[row * d.dk + col] = scale * acc[c];
    }
}

// ---- backward, step 3: one warp per key row j of group bg, over the group's heads and queries ----
//   dv_j = sum_{h in group} sum_i p_ij dout_i,  dk_j = scale sum_{h in group} sum_i ds_ij q_i
// (p, ds as in step 2; query i of a causal head contributes only when i >= j - (Lk - Lq)).
template <int N>
__global__ void attention_dkdv_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                      const float* __restrict__ v, const float* __restrict__ dout,
                                      const float* __restrict__ lse, const float* __restrict__ delta,
                                      float* __restrict__ dk, float* __restrict__ dv, Dims d, float scale,
                                      bool causal, int64_t kblocks) {
    constexpr int W = 32 * N;  // dk and dv columns of this block: [c0, c0 + W)
    __shared__ float stage[kTile * (kC + 1)], rowbuf[kRows * kC], qt[kTile * W], dot[kTile * W];
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32;
    const int64_t bg = blockIdx.x / kblocks, j_first = (blockIdx.x % kblocks) * kRows, j = j_first + w;
    const int64_t b = bg / d.g, grp = bg % d.g, heads = d.h / d.g, c0 = int64_t{blockIdx.y} * W;
    const bool active = j < d.lk;
    const float* krow = active ? k + (bg * d.lk + j) * d.dk : nullptr;
    const float* vrow = active ? v + (bg * d.lk + j) * d.dv : nullptr;
    const int64_t off = d.lk - d.lq;
    const int64_t i_begin = causal ? lmax(0, j_first - off) : 0;  // first query any row needs
    const int64_t my_begin = causal ? lmax(0, j - off) : 0;
    float ak[N], av[N];
#pragma unroll
    for (int c = 0; c < N; ++c) ak[c] = av[c] = 0.f;
    for (int64_t r = 0; r < heads; ++r) {
        const int64_t bh = b * d.h + grp * heads + r;
        const float* qh = q + bh * d.lq * d.dk;
        const float* doh = dout + bh * d.lq * d.dv;
        for (int64_t i0 = i_begin; i0 < d.lq; i0 += kTile) {
            const int ni = static_cast<int>(lmin(kTile, d.lq - i0));
            __syncthreads();
            load_tile(qt, W, qh + i0 * d.dk, ni, d.dk, c0);
            load_tile(dot, W, doh + i0 * d.dv, ni, d.dv, c0);
            const float s = tile_dots(qh + i0 * d.dk, ni, krow, d.dk, stage, rowbuf);   // q_i . k_j
            const float dp = tile_dots(doh + i0 * d.dv, ni, vrow, d.dv, stage, rowbuf);  // dout_i . v_j
            __syncthreads();
            if (!active) continue;
            const int64_t qi = i0 + lane, row = bh * d.lq + qi;
            const bool seen = lane < ni && qi >= my_begin;
            const float p = seen ? expf(scale * s - lse[row]) : 0.f;
            const float ds = seen ? p * (dp - delta[row]) : 0.f;
            for (int t = 0; t < ni; ++t) {
                const float pt = __shfl_sync(kFull, p, t), dst = __shfl_sync(kFull, ds, t);
#pragma unroll
                for (int c = 0; c < N; ++c) {
                    av[c] += pt * dot[t * W + lane + 32 * c];
                    ak[c] += dst * qt[t * W + lane + 32 * c];
                }
            }
        }
    }
    if (!active) return;
#pragma unroll
    for (int c = 0; c < N; ++c) {
        const int64_t col = c0 + lane + 32 * c;
        if (col < d.dk) dk[(bg * d.lk + j) * d.dk + col] = scale * ak[c];
        if (col < d.dv) dv[(bg * d.lk + j) * d.dv + col] = av[c];
    }
}

/// Lanes' column count 32 N for a row of `cols` columns: N in {1, 2, 4, ..., max_n}.
int lanes_n(int64_t cols, int max_n) {
    int n = 1;
    while (n < max_n && 32 * n < cols) n *= 2;
    return n;
}

/// Grid of `blocks` row blocks times the column slices of width 32 n covering `cols` columns.
dim3 grid_of(int64_t blocks, int64_t cols, int n) {
    const int64_t slices = std::max<int64_t>(1, (cols + 32 * n - 1) / (32 * n));
    RFLOW_CHECK(blocks <= 0x7fffffff && slices <= 65535, "attention: problem too large for one CUDA grid ("
                                                             << blocks << " x " << slices << " blocks)");
    return dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(slices));
}

// ---- launchers: contiguous device arrays, shapes in d ----
void attention_forward_launch(const float* q, const float* k, const float* v, float* out, float* lse, const Dims& d,
                              float scale, bool causal, cudaStream_t st) {
    if (d.b * d.h * d.lq == 0) return;
    const int64_t qblocks = (d.lq + kRows - 1) / kRows;
    const int n = lanes_n(d.dv, 8);
    const dim3 grid = grid_of(d.b * d.h * qblocks, d.dv, n);
    switch (n) {
        case 1: attention_fwd_kernel<1><<<grid, kBlock, 0, st>>>(q, k, v, out, lse, d, scale, causal, qblocks); break;
        case 2: attention_fwd_kernel<2><<<grid, kBlock, 0, st>>>(q, k, v, out, lse, d, scale, causal, qblocks); break;
        case 4: attention_fwd_kernel<4><<<grid, kBlock, 0, st>>>(q, k, v, out, lse, d, scale, causal, qblocks); break;
        default: attention_fwd_kernel<8><<<grid, kBlock, 0, st>>>(q, k, v, out, lse, d, scale, causal, qblocks); break;
    }
    RFLOW_CUDA_LAUNCHED();
}

void attention_backward_launch(const float* q, const float* k, const float* v, const float* out, const float* lse,
                               const float* dout, float* delta, float* dq, float* dk, float* dv, const Dims& d,
                               float scale, bool causal, cudaStream_t st) {
    const int64_t rows = d.b * d.h * d.lq;
    if (rows > 0) {
        const int64_t per_block = kBlock / 32;
        const int64_t blocks = std::min<int64_t>((rows + per_block - 1) / per_block, 1 << 20);
        attention_delta_kernel<<<static_cast<unsigned>(blocks), kBlock, 0, st>>>(out, dout, delta, rows, d.dv);
        RFLOW_CUDA_LAUNCHED();
        const int64_t qblocks = (d.lq + kRows - 1) / kRows;
        const int n = lanes_n(d.dk, 8);
        const dim3 grid = grid_of(d.b * d.h * qblocks, d.dk, n);
        switch (n) {
#define RFLOW_DQ(N) \
    attention_dq_kernel<N><<<grid, kBlock, 0, st>>>(q, k, v, dout, lse, delta, dq, d, scale, causal, qblocks)
            case 1: RFLOW_DQ(1); break;
            case 2: RFLOW_DQ(2); break;
            case 4: RFLOW_DQ(4); break;
            default: RFLOW_DQ(8); break;
#undef RFLOW_DQ
        }
        RFLOW_CUDA_LAUNCHED();
    }
    if (d.b * d.g * d.lk > 0) {  // also when Lq = 0: dk and dv are then written as zeros
        const int64_t kblocks = (d.lk + kRows - 1) / kRows;
        const int64_t cols = std::max(d.dk, d.dv);
        const int n = lanes_n(cols, 4);
        const dim3 grid = grid_of(d.b * d.g * kblocks, cols, n);
        switch (n) {
#define RFLOW_DKDV(N) \
    attention_dkdv_kernel<N><<<grid, kBlock, 0, st>>>(q, k, v, dout, lse, delta, dk, dv, d, scale, causal, kblocks)
            case 1: RFLOW_DKDV(1); break;
            case 2: RFLOW_DKDV(2); break;
            default: RFLOW_DKDV(4); break;
#undef RFLOW_DKDV
        }
        RFLOW_CUDA_LAUNCHED();
    }
}

Dims dims_of(const Tensor& q, const Tensor& k, const Tensor& v) {
    return {q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
}

}  // namespace

// ---- backend entries ----
void attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, Tensor& out, Tensor& lse, float scale,
               bool causal) {
    const Tensor q = contiguous_on_device(q_in, "attention"), k = contiguous_on_device(k_in, "attention"),
                 v = contiguous_on_device(v_in, "attention");
    attention_forward_launch(dptr(q), dptr(k), dptr(v), dptr(out), dptr(lse), dims_of(q, k, v), scale, causal,
                             stream());
}

void attention_backward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& out_in,
                        const Tensor& lse_in, const Tensor& dout_in, Tensor& dq, Tensor& dk, Tensor& dv, float scale,
                        bool causal) {
    const char* what = "attention_backward";
    const Tensor q = contiguous_on_device(q_in, what), k = contiguous_on_device(k_in, what),
                 v = contiguous_on_device(v_in, what), out = contiguous_on_device(out_in, what),
                 lse = contiguous_on_device(lse_in, what), dout = contiguous_on_device(dout_in, what);
    const Dims d = dims_of(q, k, v);
    DeviceArray<float> delta(static_cast<size_t>(d.b * d.h * d.lq));
    attention_backward_launch(dptr(q), dptr(k), dptr(v), dptr(out), dptr(lse), dptr(dout), delta.get(), dptr(dq),
                              dptr(dk), dptr(dv), d, scale, causal, stream());
}

}  // namespace rflow::cuda
