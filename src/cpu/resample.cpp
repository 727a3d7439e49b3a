// CPU resampling of images [N, C, H, W]: nearest up-sampling by integer factors and its adjoint,
// sum pooling over non-overlapping k x k blocks. One (n, c) plane per work item.
#include <algorithm>

#include "../backend.hpp"
#include "../core/tensor_impl.hpp"
#include "parallel.hpp"

namespace rflow::cpu {

// out[n, c, i, j] = x[n, c, i / sh, j / sw]
void upsample_nearest2d(const Tensor& x_in, Tensor& out, int64_t sh, int64_t sw) {
    const Tensor x = x_in.contiguous();
    const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
    const int64_t Wo = W * sw, plane_out = H * sh * Wo;
    const float* px = x.data();
    float* po = out.data();
    parallel_for(planes, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(plane_out, 1)),
                 [&](int64_t p0, int64_t p1) {
                     for (int64_t pl = p0; pl < p1; ++pl) {
                         for (int64_t i = 0; i < H; ++i) {
                             const float* src = px + (pl * H + i) * W;
                             float* row = po + pl * plane_out + i * sh * Wo;
                             if (sw == 2) {
                                 for (int64_t j = 0; j < W; ++j) row[2 * j] = row[2 * j + 1] = src[j];
                             } else {
                                 for (int64_t j = 0; j < W; ++j)
                                     for (int64_t b = 0; b < sw; ++b) row[j * sw + b] = src[j];
                             }
                             for (int64_t a = 1; a < sh; ++a) std::copy(row, row + Wo, row + a * Wo);
                         }
                     }
                 });
}

// out[n, c, i, j] = sum_{a < kh, b < kw} x[n, c, i kh + a, j kw + b]  (x is exactly out's size times k)
void sum_pool2d(const Tensor& x_in, Tensor& out, int64_t kh, int64_t kw) {
    const Tensor x = x_in.contiguous();
    const int64_t planes = out.size(0) * out.size(1), Ho = out.size(2), Wo = out.size(3);
    const int64_t W = x.size(3), plane_in = x.size(2) * W;
    const float* px = x.data();
    float* po = out.data();
    parallel_for(planes, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(plane_in, 1)),
                 [&](int64_t p0, int64_t p1) {
                     for (int64_t pl = p0; pl < p1; ++pl) {
                         for (int64_t i = 0; i < Ho; ++i) {
                             float* dst = po + (pl * Ho + i) * Wo;
                             std::fill(dst, dst + Wo, 0.f);
                             for (int64_t a = 0; a < kh; ++a) {
                                 const float* src = px + pl * plane_in + (i * kh + a) * W;
                                 if (kw == 2) {
                                     for (int64_t j = 0; j < Wo; ++j) dst[j] += src[2 * j] + src[2 * j + 1];
                                 } else {
                                     for (int64_t j = 0; j < Wo; ++j)
                                         for (int64_t b = 0; b < kw; ++b) dst[j] += src[j * kw + b];
                                 }
                             }
                         }
                     }
                 });
}

}  // namespace rflow::cpu
