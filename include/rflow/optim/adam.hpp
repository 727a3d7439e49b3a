// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), PyTorch torch.optim semantics.
#pragma once

#include <vector>

#include "rflow/export.hpp"
#include "rflow/optim/optimizer.hpp"

namespace rflow::optim {

/// Options of Adam. `lr` and `weight_decay` fill the single group made by the params constructor;
/// explicit ParamGroups carry their own.
struct AdamOptions {
    float lr = 1e-3f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;         ///< added after the square root of the bias-corrected v
    float weight_decay = 0.f;  ///< Adam: L2 added to the gradient; AdamW: decoupled decay
};

/// Options of AdamW: as Adam's, with PyTorch's default decoupled weight decay 1e-2.
struct AdamWOptions : AdamOptions {
    AdamWOptions() { weight_decay = 1e-2f; }
};

/// Adam, at a parameter's t-th update:
///   g = grad + wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
///   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// One fused pass per parameter. State buffers: "adam.m.<group>.<i>", "adam.v.<group>.<i>".
class RFLOW_API Adam : public Optimizer {
public:
    Adam(const std::vector<Tensor>& params, const AdamOptions& options = {});
    Adam(std::vector<ParamGroup> groups, const AdamOptions& options = {});
    void step() override;
    const AdamOptions& options() const { return opt_; }

protected:
    /// For AdamW: decoupled decay and its own state-key prefix.
    Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled,
         const char* kind);

private:
    AdamOptions opt_;
    bool decoupled_ = false;
};

/// AdamW: p *= 1 - lr wd first, then the Adam update without L2 in the gradient.
/// State buffers: "adamw.m.<group>.<i>", "adamw.v.<group>.<i>".
class RFLOW_API AdamW : public Adam {
public:
    AdamW(const std::vector<Tensor>& params, const AdamWOptions& options = {});
    AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options = {});
};

}  // namespace rflow::optim
