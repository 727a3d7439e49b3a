// VelocityModel: the interface every flow network implements, v_theta(x, t).
#pragma once

#include "rflow/nn/module.hpp"

namespace rflow::nn {

/// A network predicting the flow velocity at (x, t); t is [N], time runs noise (0) -> data (1).
class RFLOW_API VelocityModel : public Module {
public:
    virtual Tensor forward(const Tensor& x, const Tensor& t) = 0;
    using Module::forward;
};

}  // namespace rflow::nn
