// CUDA 2-D convolution (twin of src/cpu/conv.cpp): the forward and its two adjoints, as im2col /
// col2im kernels plus cuBLAS GEMMs. For one sample and one group, with Cg = C / groups input
// channels, Og = Co / groups output channels, K = Cg kh kw and P = Ho Wo:
//
//   col[(c kh + a) kw + b, i Wo + j] = x[c, i sh - ph + a dh, j sw - pw + b dw]   (im2col; 0 outside)
//   forward         y[o, p]   = sum_k w[o, k] col[k, p]  (+ b[o])  Y   = W Col
//   input adjoint   col[k, p] = sum_o w[o, k] y[o, p]              Col = W^T Y,  x = col2im(Col) (+ b[c])
//   weight adjoint  w[o, k]   = sum_{n, p} y[o, p] col[k, p]       W   = sum_n Y Col^T
//
// cuBLAS is column-major and a row-major [r, s] matrix is a column-major [s, r] one, so each
// row-major product C = A B is issued as C^T = B^T A^T. Samples run in chunks whose scratch fits
// kScratchFloats; the forward and input-adjoint GEMMs are strided-batched over samples and groups,
// the weight adjoint folds a chunk's samples into the GEMM's reduction (col [K, nb P]) and sums the
// chunks in order. col2im is a gather (each x element sums its taps in a fixed order): no atomics,
// so every result is deterministic. A 1x1, stride-1, unpadded conv skips im2col (col is x).
#include <algorithm>
#include <climits>
#include <cstdint>

#include "cuda_common.hpp"

namespace rflow::cuda {

namespace {

using backend::ConvParams;

constexpr int64_t kScratchFloats = int64_t{1} << 25;  // 128 MiB of col (and gathered y) per chunk
constexpr int64_t kSmallIndex = int64_t{1} << 30;     // below this, kernels index with int32

struct Geo {
    int64_t N, C, H, W, Co, Ho, Wo, kh, kw, G, Cg, Og, K, P, HW;
    int64_t R;  // C kh kw: the rows of one sample's col, all groups (group g holds rows [g K, g K + K))
    ConvParams p;
    bool pointwise;  // 1x1, stride 1, no padding: col == x
};

Geo make_geo(const Shape& xs, const Shape& ws, const Shape& ys, const ConvParams& p) {
    RFLOW_CHECK(xs.size() == 4 && ws.size() == 4 && ys.size() == 4,
                "conv2d: expected 4-d x, w, y, got " << shape_str(xs) << ", " << shape_str(ws) << ", " << shape_str(ys));
    Geo g{};
    g.N = xs[0], g.C = xs[1], g.H = xs[2], g.W = xs[3];
    g.Co = ws[0], g.kh = ws[2], g.kw = ws[3];
    g.Ho = ys[2], g.Wo = ys[3];
    g.G = p.groups;
    RFLOW_CHECK(g.G >= 1 && g.C % g.G == 0 && g.Co % g.G == 0, "conv2d: groups = " << g.G << " must divide "
                    << g.C << " input and " << g.Co << " output channels");
    g.Cg = g.C / g.G, g.Og = g.Co / g.G;
    g.K = g.Cg * g.kh * g.kw, g.P = g.Ho * g.Wo, g.HW = g.H * g.W, g.R = g.C * g.kh * g.kw;
    g.p = p;
    g.pointwise = g.kh == 1 && g.kw == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0 && g.Ho == g.H &&
                  g.Wo == g.W;
    RFLOW_CHECK(ws[1] == g.Cg && ys[1] == g.Co && ys[0] == g.N, "conv2d: inconsistent shapes x "
                    << shape_str(xs) << ", w " << shape_str(ws) << ", y " << shape_str(ys));
    return g;
}

// The window geometry the im2col / col2im kernels need, in their index type.
template <class I>
struct Win {
    I C, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw;
};

template <class I>
Win<I> win_of(const Geo& g) {
    const ConvParams& p = g.p;
    return {I(g.C), I(g.H), I(g.W), I(g.Ho), I(g.Wo), I(g.kh), I(g.kw),
            I(p.sh), I(p.sw), I(p.ph), I(p.pw), I(p.dh), I(p.dw)};
}

// ---------------------------------------------------------------- kernels

// im2col of nb samples x [nb, C, H, W], one thread per col element:
//   col[q sq + ((c kh + a) kw + b) srow + i Wo + j] = x[q, c, i sh - ph + a dh, j sw - pw + b dw]
// (0 outside the image). sq = R P, srow = P is the per-sample layout [nb][R][P]; sq = P,
// srow = nb P the folded one [R][nb P] (samples side by side along the columns).
template <class I>
__global__ void im2col_kernel(const float* __restrict__ x, float* __restrict__ col, Win<I> g, I nb, I sq, I srow) {
    const I P = g.Ho * g.Wo, R = g.C * g.kh * g.kw, total = nb * R * P;
    const I step = I(gridDim.x) * I(blockDim.x);
    for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < total; t += step) {
        const I p = t % P, rq = t / P;
        const I row = rq % R, q = rq / R;
        const I i = p / g.Wo, j = p - i * g.Wo;
        const I ca = row / g.kw, b = row - ca * g.kw;
        const I c = ca / g.kh, a = ca - c * g.kh;
        const I ih = i * g.sh - g.ph + a * g.dh, iw = j * g.sw - g.pw + b * g.dw;
        float v = 0.f;
        if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) v = x[((q * g.C + c) * g.H + ih) * g.W + iw];
        col[q * sq + row * srow + p] = v;
    }
}

// col2im, the adjoint of im2col, as a gather: one thread per x element (per-sample col layout),
//   x[q, c, h, w] = sum_{a, b} col[q sq + ((c kh + a) kw + b) srow + i Wo + j]  (+ bias[c])
// over the taps (a, b) whose output (i, j) with i sh - ph + a dh = h, j sw - pw + b dw = w lies
// in [0, Ho) x [0, Wo); taps are summed in order (a, b), then the bias is added.
template <class I>
__global__ void col2im_kernel(const float* __restrict__ col, const float* __restrict__ bias, float* __restrict__ x,
                              Win<I> g, I nb, I sq, I srow) {
    const I total = nb * g.C * g.H * g.W;
    const I step = I(gridDim.x) * I(blockDim.x);
    for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < total; t += step) {
        const I r1 = t / g.W, w = t - r1 * g.W;
        const I r2 = r1 / g.H, h = r1 - r2 * g.H;
        const I q = r2 / g.C, c = r2 - q * g.C;
        const float* base = col + q * sq + c * g.kh * g.kw * srow;
        float acc = 0.f;
        for (I a = 0; a < g.kh; ++a) {
            const I hh = h + g.ph - a * g.dh;  // = i sh
            if (hh < 0) break;                 // only decreases with a
            const I i = hh / g.sh;
            if (i * g.sh != hh || i >= g.Ho) continue;
            for (I b = 0; b < g.kw; ++b) {
                const I ww = w + g.pw - b * g.dw;  // = j sw
                if (ww < 0) break;
                const I j = ww / g.sw;
                if (j * g.sw != ww || j >= g.Wo) continue;
                acc += base[(a * g.kw + b) * srow + i * g.Wo + j];
            }
        }
        x[t] = bias ? acc + bias[c] : acc;
    }
}

// y[n, o, p] += b[o] over y [N, Co, P] (total = N Co P elements).
__global__ void add_bias_kernel(float* __restrict__ y, const float* __restrict__ b, int64_t Co, int64_t P,
                                int64_t total) {
    const int64_t step = int64_t(gridDim.x) * blockDim.x;
    for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += step) y[t] += b[(t / P) % Co];
}

// mat[(o nb + q) P + p] = y[q, o, p] for q < nb: a chunk's samples side by side per channel
// ([Co][nb P]), so that one GEMM of the weight adjoint sums over samples and positions at once.
__global__ void gather_samples_kernel(const float* __restrict__ y, float* __restrict__ mat, int64_t nb, int64_t Co,
                                      int64_t P) {
    const int64_t total = nb * Co * P, step = int64_t(gridDim.x) * blockDim.x;
    for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += step) {
        const int64_t r = t / P, p = t - r * P;
        const int64_t o = r / nb, q = r - o * nb;
        mat[t] = y[(q * Co + o) * P + p];
    }
}

// ---------------------------------------------------------------- launchers (raw pointers, a stream)

void launch_im2col(const float* x, float* col, const Geo& g, int64_t nb, int64_t sq, int64_t srow, cudaStream_t s) {
    const int64_t total = nb * g.R * g.P;
    if (total == 0) return;
    if (total < kSmallIndex && nb * g.C * g.HW < kSmallIndex)
        im2col_kernel<int32_t><<<grid_for(total), kThreads, 0, s>>>(x, col, win_of<int32_t>(g), int32_t(nb),
                                                                     int32_t(sq), int32_t(srow));
    else
        im2col_kernel<int64_t><<<grid_for(total), kThreads, 0, s>>>(x, col, win_of<int64_t>(g), nb, sq, srow);
    RFLOW_CUDA_LAUNCHED();
}

void launch_col2im(const float* col, const float* bias, float* x, const Geo& g, int64_t nb, int64_t sq, int64_t srow,
                   cudaStream_t s) {
    const int64_t total = nb * g.C * g.HW;
    if (total == 0) return;
    if (total < kSmallIndex && nb * g.R * g.P < kSmallIndex)
        col2im_kernel<int32_t><<<grid_for(total), kThreads, 0, s>>>(col, bias, x, win_of<int32_t>(g), int32_t(nb),
                                                                     int32_t(sq), int32_t(srow));
    else
        col2im_kernel<int64_t><<<grid_for(total), kThreads, 0, s>>>(col, bias, x, win_of<int64_t>(g), nb, sq, srow);
    RFLOW_CUDA_LAUNCHED();
}

// out [N, Co, P] = 0 (+ b[o] when b is given): the result when the conv's sum is empty.
void launch_zero_plus_bias(float* out, const float* b, int64_t N, int64_t Co, int64_t P, cudaStream_t s) {
    const int64_t total = N * Co * P;
    if (total == 0) return;
    RFLOW_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float) * size_t(total), s));
    if (!b) return;
    add_bias_kernel<<<grid_for(total), kThreads, 0, s>>>(out, b, Co, P, total);
    RFLOW_CUDA_LAUNCHED();
}

int to_int(int64_t v) {
    RFLOW_CHECK(v >= 0 && v <= INT_MAX, "conv2d: GEMM size " << v << " exceeds cuBLAS's int range");
    return static_cast<int>(v);
}

struct Step {
    int64_t img, grp;  // element offsets between consecutive samples and consecutive groups
};

// Column-major C = op(A) op(B) + beta C for every sample q < nimg and group g < ngrp, each operand
// at base + q step.img + g step.grp: strided-batched over the larger count, looping over the other.
void gemm_grid(cublasHandle_t blas, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
               const float* A, int64_t lda, Step sa, const float* B, int64_t ldb, Step sb, float beta, float* C,
               int64_t ldc, Step sc, int64_t nimg, int64_t ngrp) {
    const float alpha = 1.f;
    const bool batch_groups = ngrp >= nimg;
    const int64_t outer = batch_groups ? nimg : ngrp, inner = batch_groups ? ngrp : nimg;
    const auto outer_step = [&](const Step& st) { return batch_groups ? st.img : st.grp; };
    const auto inner_step = [&](const Step& st) { return static_cast<long long>(batch_groups ? st.grp : st.img); };
    for (int64_t o = 0; o < outer; ++o)
        RFLOW_CUBLAS_CHECK(cublasSgemmStridedBatched(
            blas, ta, tb, to_int(m), to_int(n), to_int(k), &alpha, A + o * outer_step(sa), to_int(lda), inner_step(sa),
            B + o * outer_step(sb), to_int(ldb), inner_step(sb), &beta, C + o * outer_step(sc), to_int(ldc),
            inner_step(sc), to_int(inner)));
}

// Samples per chunk when each needs `per` floats of scratch.
int64_t chunk_of(const Geo& g, int64_t per) {
    return per == 0 ? std::max<int64_t>(g.N, 1) : std::clamp<int64_t>(kScratchFloats / per, 1, std::max<int64_t>(g.N, 1));
}

// y = conv(x, w) (+ bias[o]); `blas` is bound to s.
void conv_forward(const float* x, const float* w, const float* bias, float* y, const Geo& g, cublasHandle_t blas,
                  cudaStream_t s) {
    if (g.K == 0) return launch_zero_plus_bias(y, bias, g.N, g.Co, g.P, s);
    const int64_t per = g.pointwise ? 0 : g.R * g.P, B = chunk_of(g, per);
    DeviceArray<float> buf(size_t(per * B));
    for (int64_t n0 = 0; n0 < g.N; n0 += B) {
        const int64_t nb = std::min(B, g.N - n0);
        const float* col = x + n0 * g.C * g.HW;  // pointwise: col[q] = x[n0 + q] viewed as [C, P]
        if (!g.pointwise) {
            launch_im2col(col, buf.get(), g, nb, g.R * g.P, g.P, s);
            col = buf.get();
        }
        // Y[q, grp] (Og x P) = W_grp (Og x K) Col[q, grp] (K x P), issued as Y^T = Col^T W^T
        gemm_grid(blas, CUBLAS_OP_N, CUBLAS_OP_N, g.P, g.Og, g.K, col, g.P, {g.R * g.P, g.K * g.P}, w, g.K,
                  {0, g.Og * g.K}, 0.f, y + n0 * g.Co * g.P, g.P, {g.Co * g.P, g.Og * g.P}, nb, g.G);
    }
    const int64_t total = g.N * g.Co * g.P;
    if (bias && total > 0) {
        add_bias_kernel<<<grid_for(total), kThreads, 0, s>>>(y, bias, g.Co, g.P, total);
        RFLOW_CUDA_LAUNCHED();
    }
}

// x = col2im(W^T y) (+ bias[c]); `blas` is bound to s.
void conv_input(const float* y, const float* w, const float* bias, float* x, const Geo& g, cublasHandle_t blas,
                cudaStream_t s) {
    if (g.Og == 0 || g.P == 0 || g.K == 0) return launch_zero_plus_bias(x, bias, g.N, g.C, g.HW, s);
    const int64_t per = g.pointwise ? 0 : g.R * g.P, B = chunk_of(g, per);
    DeviceArray<float> buf(size_t(per * B));
    for (int64_t n0 = 0; n0 < g.N; n0 += B) {
        const int64_t nb = std::min(B, g.N - n0);
        float* xs = x + n0 * g.C * g.HW;
        float* col = g.pointwise ? xs : buf.get();  // pointwise: W^T Y lands in x as is
        // Col[q, grp] (K x P) = W_grp^T (K x Og) Y[q, grp] (Og x P), issued as Col^T = Y^T W
        gemm_grid(blas, CUBLAS_OP_N, CUBLAS_OP_T, g.P, g.K, g.Og, y + n0 * g.Co * g.P, g.P, {g.Co * g.P, g.Og * g.P},
                  w, g.K, {0, g.Og * g.K}, 0.f, col, g.P, {g.R * g.P, g.K * g.P}, nb, g.G);
        if (!g.pointwise) launch_col2im(col, bias, xs, g, nb, g.R * g.P, g.P, s);
    }
    const int64_t total = g.N * g.C * g.HW;
    if (g.pointwise && bias && total > 0) {
        add_bias_kernel<<<grid_for(total), kThreads, 0, s>>>(x, bias, g.C, g.HW, total);
        RFLOW_CUDA_LAUNCHED();
    }
}

// dw = sum_n Y Col^T (overwritten); `blas` is bound to s.
void conv_weight(const float* x, const float* y, float* dw, const Geo& g, cublasHandle_t blas, cudaStream_t s) {
    const int64_t wn = g.Co * g.K;
    if (wn == 0) return;
    if (g.N == 0 || g.P == 0) {
        RFLOW_CUDA_CHECK(cudaMemsetAsync(dw, 0, sizeof(float) * size_t(wn), s));
        return;
    }
    const int64_t B = chunk_of(g, (g.R + g.Co) * g.P);
    DeviceArray<float> colbuf(size_t(B * g.R * g.P)), ybuf(size_t(B > 1 ? B * g.Co * g.P : 0));
    for (int64_t n0 = 0; n0 < g.N; n0 += B) {
        const int64_t nb = std::min(B, g.N - n0), ld = nb * g.P;
        const float* col = x + n0 * g.C * g.HW;  // pointwise, one sample: x[n0] is col [C, P]
        const float* ym = y + n0 * g.Co * g.P;   // one sample: y[n0] is [Co, P] already
        if (nb > 1) {
            gather_samples_kernel<<<grid_for(nb * g.Co * g.P), kThreads, 0, s>>>(ym, ybuf.get(), nb, g.Co, g.P);
            RFLOW_CUDA_LAUNCHED();
            ym = ybuf.get();
        }
        if (!(g.pointwise && nb == 1)) {
            launch_im2col(col, colbuf.get(), g, nb, g.P, ld, s);  // folded: [R][nb P]
            col = colbuf.get();
        }
        // dW_grp (Og x K) (+)= Y_grp (Og x nb P) Col_grp^T (nb P x K), issued as dW^T = Col Y^T;
        // chunks accumulate in order (beta 1 after the first)
        gemm_grid(blas, CUBLAS_OP_T, CUBLAS_OP_N, g.K, g.Og, ld, col, ld, {0, g.K * ld}, ym, ld, {0, g.Og * ld},
                  n0 == 0 ? 0.f : 1.f, dw, g.K, {0, g.Og * g.K}, 1, g.G);
    }
}

void check_output(const Tensor& t, const char* what) {
    RFLOW_CHECK(t.device() == Device::cuda && t.is_contiguous(), what << ": the output must be a contiguous CUDA tensor");
}

}  // namespace

// ---------------------------------------------------------------- entry points

void conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, Tensor& y, const backend::ConvParams& p) {
    const Geo g = make_geo(x_in.shape(), w_in.shape(), y.shape(), p);
    if (y.numel() == 0) return;
    check_output(y, "conv2d");
    const Tensor x = contiguous_on_device(x_in, "conv2d input"), w = contiguous_on_device(w_in, "conv2d weight");
    const Tensor b = b_in.defined() ? contiguous_on_device(b_in, "conv2d bias") : Tensor();
    conv_forward(dptr(x), dptr(w), b.defined() ? dptr(b) : nullptr, dptr(y), g, blas(), stream());
}

void conv2d_input(const Tensor& y_in, const Tensor& w_in, const Tensor& b_in, Tensor& x, const backend::ConvParams& p) {
    const Geo g = make_geo(x.shape(), w_in.shape(), y_in.shape(), p);
    if (x.numel() == 0) return;
    check_output(x, "conv2d_input");
    const Tensor y = contiguous_on_device(y_in, "conv2d_input grad"), w = contiguous_on_device(w_in, "conv2d_input weight");
    const Tensor b = b_in.defined() ? contiguous_on_device(b_in, "conv2d_input bias") : Tensor();
    conv_input(dptr(y), dptr(w), b.defined() ? dptr(b) : nullptr, dptr(x), g, blas(), stream());
}

void conv2d_weight(const Tensor& x_in, const Tensor& y_in, Tensor& w, const backend::ConvParams& p) {
    const Geo g = make_geo(x_in.shape(), w.shape(), y_in.shape(), p);
    if (w.numel() == 0) return;
    check_output(w, "conv2d_weight");
    const Tensor x = contiguous_on_device(x_in, "conv2d_weight input"), y = contiguous_on_device(y_in, "conv2d_weight grad");
    conv_weight(dptr(x), dptr(y), dptr(w), g, blas(), stream());
}

}  // namespace rflow::cuda
