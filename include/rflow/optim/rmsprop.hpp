// RMSProp (Hinton's lecture 6e), PyTorch torch.optim.RMSprop semantics, with optional momentum
// and the centred variant.
#pragma once

#include <vector>

#include "rflow/export.hpp"
#include "rflow/optim/optimizer.hpp"

namespace rflow::optim {

/// Options of RMSProp. `lr` and `weight_decay` fill the single group made by the params
/// constructor; explicit ParamGroups carry their own.
struct RmsPropOptions {
    float lr = 1e-2f;
    float alpha = 0.99f;       ///< smoothing of the squared-gradient average
    float eps = 1e-8f;         ///< added after the square root
    float momentum = 0.f;
    bool centered = false;     ///< divide by the estimated variance instead of the raw second moment
    float weight_decay = 0.f;  ///< L2: wd * p added to the gradient
};

/// g = grad + wd p;  v = alpha v + (1 - alpha) g^2;
/// centred: ga = alpha ga + (1 - alpha) g, denom = sqrt(v - ga^2) + eps; else denom = sqrt(v) + eps;
/// momentum: buf = mu buf + g / denom, p -= lr buf;  otherwise p -= lr g / denom.
/// State buffers: "rmsprop.square_avg", plus "rmsprop.momentum" (momentum > 0) and
/// "rmsprop.grad_avg" (centred), each suffixed ".<group>.<i>".
class RFLOW_API RmsProp : public Optimizer {
public:
    RmsProp(const std::vector<Tensor>& params, const RmsPropOptions& options = {});
    RmsProp(std::vector<ParamGroup> groups, const RmsPropOptions& options = {});
    void step() override;
    const RmsPropOptions& options() const { return opt_; }

private:
    RmsPropOptions opt_;
};

}  // namespace rflow::optim
