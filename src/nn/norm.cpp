// GroupNorm layer (weight 1, bias 0 at start, as PyTorch).
#include "rflow/nn/norm.hpp"

#include "rflow/error.hpp"

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

Tensor GroupNorm::forward(const Tensor& x) {
    RFLOW_CHECK(x.dim() >= 2 && x.size(1) == channels_,
                "GroupNorm(" << groups_ << ", " << channels_ << ") got input " << shape_str(x.shape()));
    return group_norm(x, groups_, weight_, bias_, eps_);
}

}  // namespace rflow::nn
