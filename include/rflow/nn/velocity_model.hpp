// VelocityModel: the interface every flow network implements, v_theta(x, t).
#pragma once

#include <vector>

#include "rflow/nn/module.hpp"

namespace rflow::nn {

/// A network predicting the flow velocity at (x, t); t is [N], time runs noise (0) -> data (1).
/// Class-conditional models also take labels in [0, num_classes()]; the value num_classes() is
/// the null label ("no class"), which the unconditional forward uses.
class RFLOW_API VelocityModel : public Module {
public:
    virtual Tensor forward(const Tensor& x, const Tensor& t) = 0;
    /// Class-conditional velocity; unconditional models ignore the labels.
    virtual Tensor forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels) {
        (void)labels;
        return forward(x, t);
    }
    /// Number of classes (0 for an unconditional model).
    virtual int64_t num_classes() const { return 0; }
    using Module::forward;
};

}  // namespace rflow::nn
