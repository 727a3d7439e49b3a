// Differentiable tensor ops. Every op here records autograd history when an input requires grad,
// and its backward is written with these same ops, so gradients are differentiable again.
#pragma once

#include <cstdint>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

// ---- element-wise, with NumPy broadcasting ----
RFLOW_API Tensor add(const Tensor& a, const Tensor& b);
RFLOW_API Tensor sub(const Tensor& a, const Tensor& b);
RFLOW_API Tensor mul(const Tensor& a, const Tensor& b);
RFLOW_API Tensor div(const Tensor& a, const Tensor& b);
RFLOW_API Tensor maximum(const Tensor& a, const Tensor& b);  ///< gradient goes to the larger (a on ties)
RFLOW_API Tensor minimum(const Tensor& a, const Tensor& b);
RFLOW_API Tensor add(const Tensor& a, float s);
RFLOW_API Tensor mul(const Tensor& a, float s);
RFLOW_API Tensor rsub(const Tensor& a, float s);  ///< s - a
RFLOW_API Tensor neg(const Tensor& a);
RFLOW_API Tensor pow(const Tensor& a, float p);   ///< a^p
RFLOW_API Tensor square(const Tensor& a);
RFLOW_API Tensor exp(const Tensor& a);
RFLOW_API Tensor log(const Tensor& a);
RFLOW_API Tensor sqrt(const Tensor& a);
RFLOW_API Tensor rsqrt(const Tensor& a);
RFLOW_API Tensor abs(const Tensor& a);            ///< gradient sign(a) (0 at 0)
RFLOW_API Tensor relu(const Tensor& a);
RFLOW_API Tensor silu(const Tensor& a);           ///< a * sigmoid(a)
RFLOW_API Tensor gelu(const Tensor& a);           ///< a * Phi(a), exact (erf) form
RFLOW_API Tensor tanh(const Tensor& a);
RFLOW_API Tensor sigmoid(const Tensor& a);
RFLOW_API Tensor softplus(const Tensor& a);       ///< log(1 + e^a)
RFLOW_API Tensor sin(const Tensor& a);
RFLOW_API Tensor cos(const Tensor& a);
RFLOW_API Tensor clamp(const Tensor& a, float lo, float hi);
/// cond != 0 ? a : b, broadcast; cond carries no gradient.
RFLOW_API Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- comparisons and masks (no gradient) ----
RFLOW_API Tensor gt(const Tensor& a, const Tensor& b);   ///< 1 where a > b else 0
RFLOW_API Tensor eq(const Tensor& a, const Tensor& b);   ///< 1 where a == b else 0
RFLOW_API Tensor gt(const Tensor& a, float s);

// ---- reductions (axes may be negative; empty axes = all) ----
RFLOW_API Tensor sum(const Tensor& a, std::vector<int64_t> axes = {}, bool keepdim = false);
RFLOW_API Tensor mean(const Tensor& a, std::vector<int64_t> axes = {}, bool keepdim = false);
/// Max over axes; the gradient is split evenly among tied maxima.
RFLOW_API Tensor max(const Tensor& a, std::vector<int64_t> axes = {}, bool keepdim = false);
/// Sums a broadcast gradient back down to `shape` (the adjoint of expand).
RFLOW_API Tensor sum_to(const Tensor& a, const Shape& shape);

// ---- linear algebra ----
/// [M,K]@[K,N]; batched [B,M,K]@[B,K,N] (or [B,M,K]@[K,N]); extra leading dims are flattened.
RFLOW_API Tensor matmul(const Tensor& a, const Tensor& b);
/// x @ w^T + b for x [..., in], w [out, in], b [out] (optional): one fused GEMM.
RFLOW_API Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

// ---- normalisation and softmax ----
RFLOW_API Tensor softmax(const Tensor& a, int64_t dim = -1);
RFLOW_API Tensor log_softmax(const Tensor& a, int64_t dim = -1);
/// Over the last axis; weight and bias ([D]) are optional.
RFLOW_API Tensor layer_norm(const Tensor& x, const Tensor& weight = Tensor(),
                            const Tensor& bias = Tensor(), float eps = 1e-5f);

// ---- joining, splitting, indexing ----
RFLOW_API Tensor concat(const std::vector<Tensor>& parts, int64_t dim);
RFLOW_API Tensor stack(const std::vector<Tensor>& parts, int64_t dim);
RFLOW_API std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim);
RFLOW_API Tensor index_select(const Tensor& a, int64_t dim, const std::vector<int64_t>& index);
/// zeros(shape) with src added at `index` along dim (the adjoint of index_select).
RFLOW_API Tensor index_add(const Shape& shape, int64_t dim, const std::vector<int64_t>& index,
                           const Tensor& src);
/// out[i] = a[i, index[i]] for a [N, C]: picks one entry per row (e.g. the target's logit).
RFLOW_API Tensor gather_rows(const Tensor& a, const std::vector<int64_t>& index);
/// zeros_like a (same shape and device, no history).
RFLOW_API Tensor zeros_like(const Tensor& a);
RFLOW_API Tensor ones_like(const Tensor& a);

// ---- operators ----
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, float s) { return add(a, s); }
inline Tensor operator+(float s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return add(a, -s); }
inline Tensor operator-(float s, const Tensor& a) { return rsub(a, s); }
inline Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return mul(a, 1.f / s); }

}  // namespace rflow
