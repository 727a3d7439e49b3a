// Stochastic gradient descent with optional (Nesterov) momentum, PyTorch torch.optim.SGD semantics.
#pragma once

#include <vector>

#include "rflow/export.hpp"
#include "rflow/optim/optimizer.hpp"

namespace rflow::optim {

/// Options of SGD. `lr` and `weight_decay` fill the single group made by the params constructor;
/// explicit ParamGroups carry their own.
struct SgdOptions {
    float lr = 1e-3f;
    float momentum = 0.f;      ///< mu; 0 = plain SGD (no state buffer)
    float dampening = 0.f;     ///< tau
    bool nesterov = false;     ///< needs momentum > 0 and dampening 0
    float weight_decay = 0.f;  ///< L2: wd * p added to the gradient
};

/// g = grad + wd p;  buf = g at a parameter's first update, then buf = mu buf + (1 - tau) g;
/// d = nesterov ? g + mu buf : buf  (d = g without momentum);  p -= lr d.
/// State buffer (momentum > 0 only): "sgd.momentum.<group>.<i>".
class RFLOW_API Sgd : public Optimizer {
public:
    Sgd(const std::vector<Tensor>& params, const SgdOptions& options = {});
    Sgd(std::vector<ParamGroup> groups, const SgdOptions& options = {});
    void step() override;
    const SgdOptions& options() const { return opt_; }

private:
    SgdOptions opt_;
};

}  // namespace rflow::optim
