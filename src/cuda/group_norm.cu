// CUDA group normalisation of x [N, C, *] (twin of src/cpu/group_norm.cpp), forward and fused
// first-order backward.
//
// The Cg = C / G channels of group g of sample n form one contiguous block of L = Cg S values
// (S = spatial size); with mu, r = (var + eps)^-1/2 of the block and xhat = (x - mu) r:
//   forward   y = xhat w[c] + b[c] = x (r w[c]) + (b[c] - mu r w[c])
//   backward  with gw = g w[c] and block sums S1 = sum gw, S2 = sum gw xhat,
//             dx = r (gw - S1 / L - xhat S2 / L) = g (r w[c]) + x (-r^2 S2 / L) + r (mu r S2 - S1) / L
//             dw[c] = sum_{n, s} g xhat,  db[c] = sum_{n, s} g
// One thread block per (n, group) (forward, dx) or per (n, c) (the backward's channel sums), with
// block reductions in double; dw and db sum the per-(n, c) partials over n in order. No atomics:
// results are deterministic.
#include <algorithm>
#include <cstdint>

#include "cuda_common.hpp"

namespace rflow::cuda {

namespace {

constexpr int kMaxBlock = 512;          // threads per block of the reduction kernels
constexpr int64_t kMaxGrid = 1 << 20;   // blocks; the kernels loop over the rest

// ---------------------------------------------------------------- kernels

__device__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

// Sum of v over the thread block (blockDim.x a multiple of 32, at most 1024), returned to every
// thread. Must be reached by all threads of the block.
__device__ double block_sum(double v) {
    __shared__ double part[32];
    __shared__ double total;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < int(blockDim.x >> 5) ? part[lane] : 0.0;
        v = warp_sum(v);
        if (lane == 0) total = v;
    }
    __syncthreads();
    return total;
}

// Calls f(e, c) for the elements e < Cg S of one block (c = e / S, the channel within the group),
// spread over the threads: channel by channel when a channel fills the threads, flat otherwise.
template <class F>
__device__ void for_block_elements(int64_t Cg, int64_t S, F&& f) {
    const int64_t T = blockDim.x;
    if (S >= T) {
        for (int64_t c = 0; c < Cg; ++c)
            for (int64_t s = threadIdx.x; s < S; s += T) f(c * S + s, c);
    } else {
        for (int64_t e = threadIdx.x; e < Cg * S; e += T) f(e, e / S);
    }
}

// Forward, one thread block per (n, group) block of L = Cg S values at x + blk L:
//   mu = sum x / L, var = sum (x - mu)^2 / L (two passes, double sums), r = (var + eps)^-1/2,
//   out = x (r w[c]) + (b[c] - mu r w[c]),  mean[blk] = mu, rstd[blk] = r.
__global__ void group_norm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                  const float* __restrict__ b, float* __restrict__ out, float* __restrict__ mean,
                                  float* __restrict__ rstd, int64_t blocks, int64_t G, int64_t Cg, int64_t S,
                                  float eps) {
    const int64_t L = Cg * S;
    for (int64_t blk = blockIdx.x; blk < blocks; blk += gridDim.x) {
        const float* xb = x + blk * L;
        double s = 0.0;
        for (int64_t e = threadIdx.x; e < L; e += blockDim.x) s += xb[e];
        s = block_sum(s);
        const float mu = L ? static_cast<float>(s / static_cast<double>(L)) : 0.f;
        double v = 0.0;
        for (int64_t e = threadIdx.x; e < L; e += blockDim.x) {
            const float d = xb[e] - mu;
            v += static_cast<double>(d) * d;
        }
        v = block_sum(v);
        const float var = L ? static_cast<float>(v / static_cast<double>(L)) : 0.f;
        const float r = 1.f / sqrtf(var + eps);
        if (threadIdx.x == 0) mean[blk] = mu, rstd[blk] = r;
        const int64_t c0 = (blk % G) * Cg;
        float* ob = out + blk * L;
        for_block_elements(Cg, S, [&](int64_t e, int64_t c) {
            const float scale = r * (w ? w[c0 + c] : 1.f);
            const float shift = (b ? b[c0 + c] : 0.f) - mu * scale;
            ob[e] = xb[e] * scale + shift;
        });
    }
}

// Backward, one thread block per (n, c) (nc = n C + c) over its S positions:
//   sg[nc] = sum_s g,  sgh[nc] = r sum_s g (x - mu) = sum_s g xhat,
// with mu, r of its (n, group) block nc / Cg (= n G + c / Cg as C = G Cg).
__global__ void channel_sums_kernel(const float* __restrict__ x, const float* __restrict__ g,
                                    const float* __restrict__ mean, const float* __restrict__ rstd,
                                    float* __restrict__ sg, float* __restrict__ sgh, int64_t NC, int64_t Cg,
                                    int64_t S) {
    for (int64_t nc = blockIdx.x; nc < NC; nc += gridDim.x) {
        const int64_t blk = nc / Cg;
        const float mu = mean[blk], r = rstd[blk];
        const float *xc = x + nc * S, *gc = g + nc * S;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
            const float gv = gc[s];
            s1 += gv;
            s2 += static_cast<double>(gv) * (xc[s] - mu);
        }
        s1 = block_sum(s1);
        s2 = block_sum(s2);
        if (threadIdx.x == 0) sg[nc] = static_cast<float>(s1), sgh[nc] = r * static_cast<float>(s2);
    }
}

// Backward dx, one thread block per (n, group) block blk: over its channels c0 + c (c < Cg),
//   S1 = sum_c w[c] sg[n, c],  S2 = sum_c w[c] sgh[n, c],
//   dx = g (r w[c]) + x bx + cst  with  bx = -r^2 S2 / L,  cst = r (mu r S2 - S1) / L.
__global__ void group_norm_dx_kernel(const float* __restrict__ x, const float* __restrict__ g,
                                     const float* __restrict__ w, const float* __restrict__ mean,
                                     const float* __restrict__ rstd, const float* __restrict__ sg,
                                     const float* __restrict__ sgh, float* __restrict__ dx, int64_t blocks,
                                     int64_t G, int64_t Cg, int64_t S) {
    const int64_t L = Cg * S;
    for (int64_t blk = blockIdx.x; blk < blocks; blk += gridDim.x) {
        const int64_t c0 = (blk % G) * Cg, nc0 = blk * Cg;  // n C + c0
        double s1 = 0.0, s2 = 0.0;
        for (int64_t c = threadIdx.x; c < Cg; c += blockDim.x) {
            const double wc = w ? w[c0 + c] : 1.f;
            s1 += wc * sg[nc0 + c];
            s2 += wc * sgh[nc0 + c];
        }
        s1 = block_sum(s1);
        s2 = block_sum(s2);
        const float mu = mean[blk], r = rstd[blk];
        const float S1 = static_cast<float>(s1), S2 = static_cast<float>(s2);
        const float inv_l = 1.f / static_cast<float>(L);
        const float bx = -r * r * S2 * inv_l, cst = r * (mu * r * S2 - S1) * inv_l;
        const float *xb = x + blk * L, *gb = g + blk * L;
        float* dxb = dx + blk * L;
        for_block_elements(Cg, S, [&](int64_t e, int64_t c) {
            const float ag = r * (w ? w[c0 + c] : 1.f);
            dxb[e] = gb[e] * ag + xb[e] * bx + cst;
        });
    }
}

// dweight[c] = sum_n sgh[n, c],  dbias[c] = sum_n sg[n, c]  (n in order; either output may be
// null), one thread per channel.
__global__ void param_grads_kernel(const float* __restrict__ sg, const float* __restrict__ sgh,
                                   float* __restrict__ dweight, float* __restrict__ dbias, int64_t N, int64_t C) {
    const int64_t step = int64_t(gridDim.x) * blockDim.x;
    for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += step) {
        float aw = 0.f, ab = 0.f;
        for (int64_t n = 0; n < N; ++n) aw += sgh[n * C + c], ab += sg[n * C + c];
        if (dweight) dweight[c] = aw;
        if (dbias) dbias[c] = ab;
    }
}

// ---------------------------------------------------------------- launchers (raw pointers, a stream)

// Threads per block for reductions over n values: a multiple of 32 in [32, kMaxBlock].
int threads_for(int64_t n) { return static_cast<int>(std::clamp<int64_t>((n + 31) / 32 * 32, 32, kMaxBlock)); }
unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::min(n, kMaxGrid)); }

void launch_group_norm(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd,
                       int64_t N, int64_t G, int64_t Cg, int64_t S, float eps, cudaStream_t s) {
    const int64_t blocks = N * G;
    if (blocks == 0) return;
    group_norm_kernel<<<blocks_for(blocks), threads_for(Cg * S), 0, s>>>(x, w, b, out, mean, rstd, blocks, G, Cg,
                                                                         S, eps);
    RFLOW_CUDA_LAUNCHED();
}

// dx, dweight, dbias may each be null (not wanted).
void launch_group_norm_backward(const float* x, const float* w, const float* mean, const float* rstd,
                                const float* g, float* dx, float* dweight, float* dbias, int64_t N, int64_t G,
                                int64_t Cg, int64_t S, cudaStream_t s) {
    const int64_t C = G * Cg, NC = N * C;
    if (C == 0 || (!dx && !dweight && !dbias)) return;
    DeviceArray<float> sg(static_cast<size_t>(NC)), sgh(static_cast<size_t>(NC));  // per (n, c)
    if (NC > 0) {
        channel_sums_kernel<<<blocks_for(NC), threads_for(S), 0, s>>>(x, g, mean, rstd, sg.get(), sgh.get(), NC, Cg,
                                                                      S);
        RFLOW_CUDA_LAUNCHED();
    }
    if (dx && NC > 0) {
        const int64_t blocks = N * G;
        group_norm_dx_kernel<<<blocks_for(blocks), threads_for(Cg * S), 0, s>>>(x, g, w, mean, rstd, sg.get(),
                                                                                sgh.get(), dx, blocks, G, Cg, S);
        RFLOW_CUDA_LAUNCHED();
    }
    if (dweight || dbias) {
        param_grads_kernel<<<grid_for(C), kThreads, 0, s>>>(sg.get(), sgh.get(), dweight, dbias, N, C);
        RFLOW_CUDA_LAUNCHED();
    }
}

struct Layout {
    int64_t N, C, S, G, Cg;
};

Layout layout_of(const Tensor& x, int64_t groups) {
    RFLOW_CHECK(x.dim() >= 2 && groups >= 1 && x.size(1) % groups == 0,
                "group_norm: x " << shape_str(x.shape()) << " does not split into " << groups << " groups");
    Layout l{};
    l.N = x.size(0), l.C = x.size(1);
    l.S = l.N * l.C != 0 ? x.numel() / (l.N * l.C) : 0;
    l.G = groups, l.Cg = l.C / groups;
    return l;
}

float* dptr_or_null(const Tensor& t) { return t.defined() ? dptr(t) : nullptr; }

void check_output(const Tensor& t, const char* what) {
    RFLOW_CHECK(t.device() == Device::cuda && t.is_contiguous(), what << ": outputs must be contiguous CUDA tensors");
}

}  // namespace

// ---------------------------------------------------------------- entry points

void group_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, Tensor& out, Tensor& mean, Tensor& rstd,
                int64_t groups, float eps) {
    const Layout l = layout_of(x_in, groups);
    if (l.N * l.G == 0) return;
    for (const Tensor* t : {&out, &mean, &rstd}) check_output(*t, "group_norm");
    const Tensor x = contiguous_on_device(x_in, "group_norm input");
    const Tensor w = weight.defined() ? contiguous_on_device(weight, "group_norm weight") : Tensor();
    const Tensor b = bias.defined() ? contiguous_on_device(bias, "group_norm bias") : Tensor();
    launch_group_norm(dptr(x), dptr_or_null(w), dptr_or_null(b), dptr(out), dptr(mean), dptr(rstd), l.N, l.G, l.Cg,
                      l.S, eps, stream());
}

void group_norm_backward(const Tensor& x_in, const Tensor& weight, const Tensor& mean_in, const Tensor& rstd_in,
                         const Tensor& grad, Tensor& dx, Tensor& dweight, Tensor& dbias, int64_t groups) {
    if (!dx.defined() && !dweight.defined() && !dbias.defined()) return;
    const Layout l = layout_of(x_in, groups);
    for (const Tensor* t : {&dx, &dweight, &dbias})
        if (t->defined()) check_output(*t, "group_norm_backward");
    const Tensor x = contiguous_on_device(x_in, "group_norm_backward input");
    const Tensor g = contiguous_on_device(grad, "group_norm_backward grad");
    const Tensor mean = contiguous_on_device(mean_in, "group_norm_backward mean");
    const Tensor rstd = contiguous_on_device(rstd_in, "group_norm_backward rstd");
    const Tensor w = weight.defined() ? contiguous_on_device(weight, "group_norm_backward weight") : Tensor();
    launch_group_norm_backward(dptr(x), dptr_or_null(w), dptr(mean), dptr(rstd), dptr(g), dptr_or_null(dx),
                               dptr_or_null(dweight), dptr_or_null(dbias), l.N, l.G, l.Cg, l.S, stream());
}

}  // namespace rflow::cuda
