// Differentiable image ops on [N, C, H, W] tensors: 2-D convolution and its two adjoints
// (transposed convolution, weight gradient), nearest up-sampling, average pooling, group norm
// and dropout. Every backward is written with these same ops, so gradients can be
// differentiated again (a WGAN-GP critic built from them is differentiated twice).
#pragma once

#include <cstdint>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

/// A (height, width) pair of sizes; one number means both: `2` is {2, 2}, `{2, 1}` differs.
struct Int2 {
    int64_t h = 0, w = 0;
    constexpr Int2(int64_t v = 0) : h(v), w(v) {}  // NOLINT: implicit on purpose
    constexpr Int2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
    constexpr bool operator==(const Int2& o) const { return h == o.h && w == o.w; }
    constexpr bool operator!=(const Int2& o) const { return !(*this == o); }
};

/// Spatial output size of conv2d along one axis: (in + 2 pad - dil (k - 1) - 1) / stride + 1.
RFLOW_API int64_t conv2d_out_size(int64_t in, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
                                  int64_t dilation = 1);

/// 2-D convolution (cross-correlation, as PyTorch): x [N, Cin, H, W] (or unbatched [Cin, H, W]),
/// w [Cout, Cin / groups, kh, kw], b [Cout] (optional) -> y [N, Cout, Ho, Wo],
///   y[n, o, i, j] = b[o] + sum_{c, a, e} w[o, c, a, e] x[n, g Cin/groups + c, i sh - ph + a dh, j sw - pw + e dw]
/// with g = o / (Cout / groups) and x zero outside the image (zero padding).
/// Backward: dx = conv2d_input(g, w, x.shape(), ...), dw = conv2d_weight(x, g, w.shape(), ...),
/// db = sum of g over (n, i, j).
RFLOW_API Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), Int2 stride = 1,
                        Int2 padding = 0, Int2 dilation = 1, int64_t groups = 1);

/// Transposed convolution (PyTorch's conv_transpose2d): x [N, Cin, H, W], w [Cin, Cout / groups, kh, kw],
/// b [Cout] -> y [N, Cout, Ho, Wo] with Ho = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding.h + 1.
/// It is the adjoint of conv2d(., w, stride, padding, dilation, groups) in its input:
/// <conv2d(y, w), x> = <y, conv_transpose2d(x, w)>. output_padding (< max(stride, dilation)) picks
/// among the output sizes that conv2d maps back to H. Note the argument order: dilation comes
/// before groups, as in conv2d (PyTorch puts groups first here).
RFLOW_API Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), Int2 stride = 1,
                                  Int2 padding = 0, Int2 output_padding = 0, Int2 dilation = 1,
                                  int64_t groups = 1);

/// The gradient of conv2d with respect to its input: the adjoint of x -> conv2d(x, w, ...)
/// applied to grad_y [N, Cout, Ho, Wo], giving x_shape ([N, Cin, H, W]). The same map as
/// conv_transpose2d, with the output size given instead of output_padding.
RFLOW_API Tensor conv2d_input(const Tensor& grad_y, const Tensor& w, const Shape& x_shape, Int2 stride = 1,
                              Int2 padding = 0, Int2 dilation = 1, int64_t groups = 1);

/// The gradient of conv2d with respect to its weight: the adjoint of w -> conv2d(x, w, ...),
///   dw[o, c, a, e] = sum_{n, i, j} grad_y[n, o, i, j] x[n, g Cin/groups + c, i sh - ph + a dh, j sw - pw + e dw],
/// for x [N, Cin, H, W], grad_y [N, Cout, Ho, Wo]; w_shape is [Cout, Cin / groups, kh, kw].
/// Bilinear in (x, grad_y); its own backward is conv2d_input and conv2d.
RFLOW_API Tensor conv2d_weight(const Tensor& x, const Tensor& grad_y, const Shape& w_shape, Int2 stride = 1,
                               Int2 padding = 0, Int2 dilation = 1, int64_t groups = 1);

/// Nearest-neighbour up-sampling by integer factors: y[n, c, i, j] = x[n, c, i / sh, j / sw],
/// [N, C, H, W] -> [N, C, H sh, W sw]. Its backward sums each sh x sw block.
RFLOW_API Tensor upsample_nearest2d(const Tensor& x, Int2 scale);

/// Average pooling without padding: y[n, c, i, j] = mean of the kh x kw window at (i sh, j sw),
/// Ho = (H - kh) / sh + 1. stride 0 (the default) means stride = kernel; that case
/// (non-overlapping windows) has a fused kernel, other strides run as a depthwise conv2d.
RFLOW_API Tensor avg_pool2d(const Tensor& x, Int2 kernel, Int2 stride = 0);

/// Group normalisation of x [N, C, *]: the C channels form `groups` groups of C / groups; each
/// (sample, group) is normalised over its channels and positions,
///   y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]   (biased variance),
/// weight and bias ([C]) optional. Forward fused in the backend; backward written as ops.
RFLOW_API Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                            const Tensor& bias = Tensor(), float eps = 1e-5f);

/// silu(group_norm(x, groups, weight, bias, eps)) as one op: the same values and gradients (to
/// float rounding), but the norm's output is never stored (the backward recomputes it from x and
/// the per-group statistics) and each way is one pass over the data fewer. Backends without a
/// fused kernel (CUDA, for now) compose the two ops.
RFLOW_API Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                                 const Tensor& bias = Tensor(), float eps = 1e-5f);

/// Dropout: in training, y = x * m / (1 - p) with m[i] = [u_i > p], u uniform in [0, 1) drawn
/// from `gen` (which advances), so the mask is reproducible from the generator's state. In
/// evaluation (training = false) or with p = 0, y = x. p must lie in [0, 1]; p = 1 gives zeros.
/// The mask is not kept for the backward: it draws the same Philox words again.
RFLOW_API Tensor dropout(const Tensor& x, float p, Generator& gen, bool training = true);

}  // namespace rflow
