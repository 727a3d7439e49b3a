// Linear layer: y = x W^T + b, W [out, in], b [out] (PyTorch layout and default init).
#pragma once

#include <functional>

#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

class RFLOW_API Linear : public Module {
public:
    /// W and b ~ U(-1/sqrt(in), 1/sqrt(in)), as PyTorch's default.
    Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias = true);
    Tensor forward(const Tensor& x) override;
    Tensor& weight() { return weight_; }
    Tensor& bias() { return bias_; }  ///< undefined when built without bias
    int64_t in_features() const { return in_; }
    int64_t out_features() const { return out_; }
    /// An adapter's hook on the output: forward returns hook(x, x W^T + b). Set by LoRA
    /// (nn/lora.hpp); null removes it.
    using OutputHook = std::function<Tensor(const Tensor& x, const Tensor& y)>;
    void set_output_hook(OutputHook hook) { hook_ = std::move(hook); }
    bool has_output_hook() const { return static_cast<bool>(hook_); }

private:
    int64_t in_, out_;
    Tensor weight_, bias_;
    OutputHook hook_;
};

}  // namespace rflow::nn
