// GroupNorm (weight 1, bias 0 at start, as PyTorch) and RMSNorm layers.
#include "rflow/nn/norm.hpp"

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

GroupNorm::GroupNorm(int64_t groups, int64_t channels, float eps, bool affine)
    : groups_(groups), channels_(channels), eps_(eps) {
    RFLOW_CHECK(groups > 0 && channels > 0 && channels % groups == 0,
                "GroupNorm: " << channels << " channels are not divisible into " << groups << " groups");
    RFLOW_CHECK(eps > 0.f, "GroupNorm: eps must be positive, got " << eps);
    if (affine) {
        weight_ = register_parameter("weight", Tensor::ones({channels}));
        bias_ = register_parameter("bias", Tensor::zeros({channels}));
    }
}

void GroupNorm::check_input(const Tensor& x) const {
    RFLOW_CHECK(x.dim() >= 2 && x.size(1) == channels_,
                "GroupNorm(" << groups_ << ", " << channels_ << ") got input " << shape_str(x.shape()));
}

Tensor GroupNorm::forward(const Tensor& x) {
    check_input(x);
    return group_norm(x, groups_, weight_, bias_, eps_);
}

Tensor GroupNorm::forward_silu(const Tensor& x) {
    check_input(x);
    return group_norm_silu(x, groups_, weight_, bias_, eps_);
}

RMSNorm::RMSNorm(int64_t dim, float eps) : dim_(dim), eps_(eps) {
    RFLOW_CHECK(dim > 0, "RMSNorm: dim must be positive, got " << dim);
    weight_ = register_parameter("weight", Tensor::ones({dim}));
}

Tensor RMSNorm::forward(const Tensor& x) {
    RFLOW_CHECK(x.dim() >= 1 && x.size(-1) == dim_,
                "RMSNorm(" << dim_ << ") expects [..., " << dim_ << "], got " << shape_str(x.shape()));
    return mul(mul(x, rsqrt(add(mean(square(x), {-1}, true), eps_))), weight_);
}

}  // namespace rflow::nn
