// Multi-head self-attention with one fused q/k/v projection.
#include "rflow/nn/attention.hpp"

#include <cmath>

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

MultiheadAttention::MultiheadAttention(int64_t dim, int64_t heads, Generator& gen) : dim_(dim), heads_(heads) {
    RFLOW_CHECK(heads > 0 && dim % heads == 0, "MultiheadAttention: dim " << dim << " is not divisible by " << heads
                                                                            << " heads");
    qkv_ = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, gen));
    out_ = register_module("out", std::make_shared<Linear>(dim, dim, gen));
}

Tensor MultiheadAttention::forward(const Tensor& x) {
    RFLOW_CHECK(x.dim() == 3 && x.size(2) == dim_,
                "MultiheadAttention(" << dim_ << ") expects [N, L, " << dim_ << "], got " << shape_str(x.shape()));
    const int64_t n = x.size(0), l = x.size(1), d = dim_ / heads_;
    // [N, L, 3, h, d] -> [3, N, h, L, d]
    Tensor qkv = qkv_->forward(x).reshape({n, l, 3, heads_, d}).permute({2, 0, 3, 1, 4});
    Tensor q = qkv.slice(0, 0, 1).reshape({n * heads_, l, d});
    Tensor k = qkv.slice(0, 1, 2).reshape({n * heads_, l, d});
    Tensor v = qkv.slice(0, 2, 3).reshape({n * heads_, l, d});
    Tensor scores = mul(matmul(q, k.transpose(1, 2)), 1.f / std::sqrt(static_cast<float>(d)));  // [N h, L, L]
    Tensor attn = matmul(softmax(scores, -1), v);                                                  // [N h, L, d]
    Tensor merged = attn.reshape({n, heads_, l, d}).permute({0, 2, 1, 3}).reshape({n, l, dim_});
    return out_->forward(merged);
}

}  // namespace rflow::nn
