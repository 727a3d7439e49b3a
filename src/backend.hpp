// The narrow backend interface: one table of entry points per device (DESIGN §3).
//
// Ops in src/core/ compute shapes, record autograd history and call these entries; the CPU
// implementation lives in src/cpu/ (Eigen), the CUDA one in src/cuda/ or as throwing stubs in
// src/no_cuda.cpp. Outputs are always fresh contiguous tensors allocated by the caller unless
// stated; inputs may be arbitrary strided views.
#pragma once

#include <cstdint>
#include <vector>

#include "rflow/device.hpp"
#include "rflow/tensor.hpp"

namespace rflow::backend {

/// Element-wise unary functions. `a` and `b` are the scalar parameters where an op has them.
enum class Unary {
    neg, exp, log, sqrt, rsqrt, abs, sign, square, reciprocal,
    relu, relu_grad,          // relu'(x) = [x > 0]
    silu, silu_grad,          // silu(x) = x s(x); silu'(x) = s(x)(1 + x(1 - s(x)))
    gelu, gelu_grad,          // gelu(x) = x Phi(x) (erf form); gelu'(x) = Phi(x) + x phi(x)
    tanh, sigmoid, sin, cos,
    softplus,                 // log(1 + e^x), stable
    add_scalar,               // x + a
    mul_scalar,               // x * a
    pow_scalar,               // x^a
    rsub_scalar,              // a - x
    clamp,                    // min(max(x, a), b)
    in_range,                 // [a <= x <= b] (clamp's derivative)
    gt_scalar,                // [x > a]
    eq_scalar,                // [x == a]
};

enum class Binary {
    add, sub, mul, div, maximum, minimum, eq, gt, pow,
    silu_backward,  // a * silu'(b): the fused backward of silu (g, x)
};

enum class Reduce { sum, max, min };

/// Geometry of a 2-D convolution y = conv(x, w) (cross-correlation, as in PyTorch):
///   x [N, C, H, W], w [Co, C / groups, kh, kw], y [N, Co, Ho, Wo],
///   y[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] x[n, g C/groups + c, i sh - ph + a dh, j sw - pw + b dw]
/// (g = o / (Co / groups); x is zero outside [0, H) x [0, W)). Spatial sizes are read from the
/// tensors, so the same struct serves the forward and both adjoints.
struct ConvParams {
    int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
};

struct Backend {
    float* (*alloc)(int64_t numel);
    void (*free)(float* ptr);
    /// dst[i] = src[i] over a shared shape; either may be strided (dst may alias nothing else).
    void (*copy)(const Tensor& src, Tensor& dst);
    /// Copies between a CPU and this device (contiguous, numel floats).
    void (*to_host)(const float* dev, float* host, int64_t numel);
    void (*from_host)(const float* host, float* dev, int64_t numel);
    void (*fill)(Tensor& out, float value);
    /// out = U[lo,hi) or N(mean, std^2), element i from Philox counter (seed, stream, offset + i).
    void (*uniform)(Tensor& out, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi);
    void (*normal)(Tensor& out, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std);
    void (*unary)(Unary op, const Tensor& x, Tensor& out, float a, float b);
    /// out = op(a, b); a and b are already expanded (stride-0 views) to out's shape.
    void (*binary)(Binary op, const Tensor& a, const Tensor& b, Tensor& out);
    /// out = cond != 0 ? a : b, all expanded to out's shape.
    void (*where)(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out);
    /// Reduces x over the axes flagged in `axes`; out has x's shape with those axes set to 1.
    void (*reduce)(Reduce op, const Tensor& x, const std::vector<bool>& axes, Tensor& out);
    /// out[b] = alpha * a[b] @ b[b] + beta * out[b]; rank 2 or 3 (batch first), any strides.
    void (*gemm)(const Tensor& a, const Tensor& b, Tensor& out, float alpha, float beta);
    /// Softmax / log-softmax over the last axis.
    void (*softmax)(const Tensor& x, Tensor& out, bool log);
    /// Layer norm over the last axis: out = (x - mean) / sqrt(var + eps) (no affine part).
    void (*layer_norm)(const Tensor& x, Tensor& out, float eps);
    /// out = x.index_select(dim, index).
    void (*index_select)(const Tensor& x, int64_t dim, const std::vector<int64_t>& index, Tensor& out);
    /// out.index_select(dim, index) += src (out is a zero-initialised contiguous tensor).
    void (*index_add)(Tensor& out, int64_t dim, const std::vector<int64_t>& index, const Tensor& src);

    // ---- images [N, C, H, W] (src/cpu/conv.cpp, group_norm.cpp, resample.cpp) ----
    /// y = conv(x, w) (+ b[o] per output channel when b is defined).
    void (*conv2d)(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const ConvParams& p);
    /// x = conv^T(y, w), the adjoint of conv2d in its input (x's shape gives H, W), + b[c] if defined.
    void (*conv2d_input)(const Tensor& y, const Tensor& w, const Tensor& b, Tensor& x, const ConvParams& p);
    /// w = the adjoint of conv2d in its weight: w[o, c, a, b] = sum_{n,i,j} y[n,o,i,j] x[n, c', ...].
    void (*conv2d_weight)(const Tensor& x, const Tensor& y, Tensor& w, const ConvParams& p);
    /// Group norm over x [N, C, *] with G groups of C / G channels: for each block (n, group),
    /// mean[n, g] = mu, rstd[n, g] = r = (var + eps)^-1/2 (biased var), and
    /// out = (x - mu) r weight[c] + bias[c] (weight 1, bias 0 where undefined).
    void (*group_norm)(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out, Tensor& mean,
                       Tensor& rstd, int64_t groups, float eps);
    /// First-order backward of group_norm from dL/d(out) = grad (not differentiable again): dx and,
    /// where defined, dweight and dbias ([C]); any output may be undefined (not wanted).
    void (*group_norm_backward)(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                                const Tensor& grad, Tensor& dx, Tensor& dweight, Tensor& dbias, int64_t groups);
    /// silu(group_norm(...)) in one pass, the norm's output never stored. Optional (null where a
    /// backend has no fused kernel: the op then composes group_norm and silu).
    void (*group_norm_silu)(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out, Tensor& mean,
                            Tensor& rstd, int64_t groups, float eps);
    /// First-order backward of group_norm_silu, like group_norm_backward with the norm's output
    /// recomputed from x, the statistics, weight and bias. Null exactly when group_norm_silu is.
    void (*group_norm_silu_backward)(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& grad, Tensor& dx, Tensor& dweight,
                                     Tensor& dbias, int64_t groups);
    /// out[n, c, i, j] = x[n, c, i / sh, j / sw] (nearest up-sampling by integer factors).
    void (*upsample_nearest2d)(const Tensor& x, Tensor& out, int64_t sh, int64_t sw);
    /// out[n, c, i, j] = sum_{a < kh, b < kw} x[n, c, i kh + a, j kw + b] (x is out's size times k).
    void (*sum_pool2d)(const Tensor& x, Tensor& out, int64_t kh, int64_t kw);

    // ---- attention (src/cpu/attention.cpp); all tensors contiguous ----
    /// q [B, H, Lq, Dk], k [B, G, Lk, Dk], v [B, G, Lk, Dv]: out [B, H, Lq, Dv] = softmax(scale q k^T) v
    /// per head (head s reads group s G / H; causal hides keys after position Lk - Lq + i), and
    /// lse [B, H, Lq], each row's log-sum-exp of the (masked) scaled scores. Never stores L x L.
    void (*attention)(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse, float scale,
                      bool causal);
    /// First-order backward of attention from dout (not differentiable again): dq, dk, dv.
    void (*attention_backward)(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                               const Tensor& lse, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv,
                               float scale, bool causal);
};

/// The backend of a device; the CUDA one throws a clear Error in CPU-only builds. Under
/// rflow::cuda_emulated() the CUDA device is served by the CPU table (host memory, CPU kernels).
const Backend& get(Device d);

/// True when this build has the CUDA backend and cudaGetDeviceCount finds a GPU (never throws).
bool cuda_device_present();
/// True while the CPU kernels serve the emulated CUDA device (rflow::cuda_emulated()): only then may
/// host code read the memory of a CUDA tensor.
bool in_emulated_kernel();
/// Waits for the CUDA stream (Error in builds without CUDA).
void cuda_synchronize();

const Backend& cpu();
const Backend& cuda();

}  // namespace rflow::backend
