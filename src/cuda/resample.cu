// CUDA resampling of images [N, C, H, W] (twin of src/cpu/resample.cpp): nearest up-sampling by
// integer factors and its adjoint, sum pooling over non-overlapping kh x kw blocks. One thread per
// output element; planes pl = n C + c are contiguous [H, W] blocks. Indices are int32 when the
// tensors are small enough (cheaper divisions), int64 otherwise.
#include <cstdint>

#include "cuda_common.hpp"

namespace rflow::cuda {

namespace {

constexpr int64_t kSmallIndex = int64_t{1} << 30;  // below this, kernels index with int32

// ---------------------------------------------------------------- kernels

// out[pl, i, j] = x[pl, i / sh, j / sw]   (x [planes, H, W], out [planes, H sh, W sw])
template <class I>
__global__ void upsample_nearest_kernel(const float* __restrict__ x, float* __restrict__ out, I H, I W, I sh, I sw,
                                        I total) {
    const I Ho = H * sh, Wo = W * sw, step = I(gridDim.x) * I(blockDim.x);
    for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < total; t += step) {
        const I r = t / Wo, j = t - r * Wo;
        const I pl = r / Ho, i = r - pl * Ho;
        out[t] = x[(pl * H + i / sh) * W + j / sw];
    }
}

// out[pl, i, j] = sum_{a < kh} sum_{b < kw} x[pl, i kh + a, j kw + b]   (x [planes, H, W],
// out [planes, Ho, Wo], H >= Ho kh, W >= Wo kw); each row's kw values are summed, then the rows.
template <class I>
__global__ void sum_pool_kernel(const float* __restrict__ x, float* __restrict__ out, I H, I W, I Ho, I Wo, I kh,
                                I kw, I total) {
    const I step = I(gridDim.x) * I(blockDim.x);
    for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < total; t += step) {
        const I r = t / Wo, j = t - r * Wo;
        const I pl = r / Ho, i = r - pl * Ho;
        const float* src = x + (pl * H + i * kh) * W + j * kw;
        float acc = 0.f;
        for (I a = 0; a < kh; ++a) {
            float row = 0.f;
            for (I b = 0; b < kw; ++b) row += src[a * W + b];
            acc += row;
        }
        out[t] = acc;
    }
}

// ---------------------------------------------------------------- launchers (raw pointers, a stream)

void launch_upsample_nearest(const float* x, float* out, int64_t planes, int64_t H, int64_t W, int64_t sh, int64_t sw,
                             cudaStream_t s) {
    const int64_t total = planes * H * sh * W * sw;
    if (total == 0) return;
    if (total < kSmallIndex)
        upsample_nearest_kernel<int32_t><<<grid_for(total), kThreads, 0, s>>>(
            x, out, int32_t(H), int32_t(W), int32_t(sh), int32_t(sw), int32_t(total));
    else
        upsample_nearest_kernel<int64_t><<<grid_for(total), kThreads, 0, s>>>(x, out, H, W, sh, sw, total);
    RFLOW_CUDA_LAUNCHED();
}

void launch_sum_pool(const float* x, float* out, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                     int64_t kh, int64_t kw, cudaStream_t s) {
    const int64_t total = planes * Ho * Wo;
    if (total == 0) return;
    if (planes * H * W < kSmallIndex)  // x is the larger tensor (kh, kw >= 1)
        sum_pool_kernel<int32_t><<<grid_for(total), kThreads, 0, s>>>(x, out, int32_t(H), int32_t(W), int32_t(Ho),
                                                                       int32_t(Wo), int32_t(kh), int32_t(kw),
                                                                       int32_t(total));
    else
        sum_pool_kernel<int64_t><<<grid_for(total), kThreads, 0, s>>>(x, out, H, W, Ho, Wo, kh, kw, total);
    RFLOW_CUDA_LAUNCHED();
}

void check_images(const Tensor& x, const Tensor& out, const char* what) {
    RFLOW_CHECK(x.dim() == 4 && out.dim() == 4 && x.size(0) == out.size(0) && x.size(1) == out.size(1),
                what << ": expected [N, C, H, W] tensors, got " << shape_str(x.shape()) << " and "
                     << shape_str(out.shape()));
    RFLOW_CHECK(out.device() == Device::cuda && out.is_contiguous(),
                what << ": the output must be a contiguous CUDA tensor");
}

}  // namespace

// ---------------------------------------------------------------- entry points

// out[n, c, i, j] = x[n, c, i / sh, j / sw]
void upsample_nearest2d(const Tensor& x_in, Tensor& out, int64_t sh, int64_t sw) {
    check_images(x_in, out, "upsample_nearest2d");
    const int64_t H = x_in.size(2), W = x_in.size(3);
    RFLOW_CHECK(sh >= 1 && sw >= 1 && out.size(2) == H * sh && out.size(3) == W * sw,
                "upsample_nearest2d: output " << shape_str(out.shape()) << " is not " << shape_str(x_in.shape())
                                              << " scaled by (" << sh << ", " << sw << ")");
    if (out.numel() == 0) return;
    const Tensor x = contiguous_on_device(x_in, "upsample_nearest2d input");
    launch_upsample_nearest(dptr(x), dptr(out), x.size(0) * x.size(1), H, W, sh, sw, stream());
}

// out[n, c, i, j] = sum_{a < kh, b < kw} x[n, c, i kh + a, j kw + b]  (x is exactly out's size times k)
void sum_pool2d(const Tensor& x_in, Tensor& out, int64_t kh, int64_t kw) {
    check_images(x_in, out, "sum_pool2d");
    const int64_t Ho = out.size(2), Wo = out.size(3), H = x_in.size(2), W = x_in.size(3);
    RFLOW_CHECK(kh >= 1 && kw >= 1 && H >= Ho * kh && W >= Wo * kw,
                "sum_pool2d: input " << shape_str(x_in.shape()) << " is smaller than output "
                                     << shape_str(out.shape()) << " times (" << kh << ", " << kw << ")");
    if (out.numel() == 0) return;
    const Tensor x = contiguous_on_device(x_in, "sum_pool2d input");
    launch_sum_pool(dptr(x), dptr(out), out.size(0) * out.size(1), H, W, Ho, Wo, kh, kw, stream());
}

}  // namespace rflow::cuda
