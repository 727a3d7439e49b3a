// Linear layer with PyTorch's default initialisation.
#include "rflow/nn/linear.hpp"

#include <cmath>

#include "rflow/error.hpp"
#include "rflow/nn/init.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias)
    : in_(in_features), out_(out_features) {
    RFLOW_CHECK(in_features > 0 && out_features > 0,
                "Linear needs positive sizes, got " << in_features << " -> " << out_features);
    Tensor w = Tensor::empty({out_features, in_features});
    init::kaiming_uniform_(w, gen, std::sqrt(5.f));
    weight_ = register_parameter("weight", w);
    if (bias) {
        const float bound = 1.f / std::sqrt(static_cast<float>(in_features));
        Tensor b = Tensor::empty({out_features});
        init::uniform_(b, gen, -bound, bound);
        bias_ = register_parameter("bias", b);
    }
}

Tensor Linear::forward(const Tensor& x) {
    RFLOW_CHECK(x.dim() >= 1 && x.size(-1) == in_,
                "Linear(" << in_ << " -> " << out_ << ") got input " << shape_str(x.shape()));
    Tensor y = linear(x, weight_, bias_);
    return hook_ ? hook_(x, y) : y;
}

}  // namespace rflow::nn
