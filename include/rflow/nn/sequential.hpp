// Sequential: runs one-input modules in order; children are named "0", "1", ...
#pragma once

#include <memory>
#include <vector>

#include "rflow/nn/module.hpp"

namespace rflow::nn {

class RFLOW_API Sequential : public Module {
public:
    Sequential() = default;
    /// Appends a module; returns *this for chaining.
    Sequential& push_back(std::shared_ptr<Module> m);
    Tensor forward(const Tensor& x) override;
    size_t size() const { return layers_.size(); }
    const std::shared_ptr<Module>& operator[](size_t i) const { return layers_.at(i); }

private:
    std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace rflow::nn
