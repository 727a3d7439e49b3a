// Activation functions as modules, chosen by name from a registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rflow/nn/module.hpp"

namespace rflow::nn {

/// Applies a named element-wise activation ("relu", "silu", "gelu", "tanh", "sigmoid",
/// "softplus", "identity").
class RFLOW_API Activation : public Module {
public:
    explicit Activation(const std::string& name);
    Tensor forward(const Tensor& x) override;
    const std::string& name() const { return name_; }

private:
    std::string name_;
    Tensor (*fn_)(const Tensor&);
};

/// The registered activation names; make_activation(name) builds one (Error for unknown names).
RFLOW_API std::vector<std::string> activation_names();
RFLOW_API std::unique_ptr<Activation> make_activation(const std::string& name);
/// Applies an activation by name without building a module.
RFLOW_API Tensor activate(const std::string& name, const Tensor& x);

}  // namespace rflow::nn
