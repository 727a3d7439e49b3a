// Multi-head self-attention over token sequences [N, L, D] (plain MHA; the attention-variants
// work makes the kind pluggable):
//   q, k, v = x Wq, x Wk, x Wv split into h heads of size d = D / h,
//   out = concat_h softmax(q_h k_h^T / sqrt(d)) v_h  Wo.
#pragma once

#include <memory>

#include "rflow/nn/linear.hpp"
#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

class RFLOW_API MultiheadAttention : public Module {
public:
    MultiheadAttention(int64_t dim, int64_t heads, Generator& gen);
    /// x [N, L, D] -> [N, L, D].
    Tensor forward(const Tensor& x) override;
    int64_t heads() const { return heads_; }

private:
    int64_t dim_, heads_;
    std::shared_ptr<Linear> qkv_, out_;
};

}  // namespace rflow::nn
