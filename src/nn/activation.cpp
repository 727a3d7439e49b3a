// The activation registry: name -> differentiable op.
#include "rflow/nn/activation.hpp"

#include <utility>

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

namespace {
Tensor identity(const Tensor& x) { return x; }

const std::vector<std::pair<std::string, Tensor (*)(const Tensor&)>>& registry() {
    static const std::vector<std::pair<std::string, Tensor (*)(const Tensor&)>> table{
        {"relu", relu}, {"silu", silu},         {"gelu", gelu},        {"tanh", rflow::tanh},
        {"sigmoid", sigmoid}, {"softplus", softplus}, {"identity", identity},
    };
    return table;
}

Tensor (*lookup(const std::string& name))(const Tensor&) {
    for (const auto& [n, f] : registry())
        if (n == name) return f;
    std::string known;
    for (const auto& [n, f] : registry()) known += (known.empty() ? "" : ", ") + n;
    RFLOW_FAIL("unknown activation '" << name << "' (known: " << known << ")");
}
}  // namespace

Activation::Activation(const std::string& name) : name_(name), fn_(lookup(name)) {}

Tensor Activation::forward(const Tensor& x) { return fn_(x); }

std::vector<std::string> activation_names() {
    std::vector<std::string> out;
    for (const auto& [n, f] : registry()) out.push_back(n);
    return out;
}

std::unique_ptr<Activation> make_activation(const std::string& name) { return std::make_unique<Activation>(name); }

Tensor activate(const std::string& name, const Tensor& x) { return lookup(name)(x); }

}  // namespace rflow::nn
