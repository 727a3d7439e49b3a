// Sequential container.
#include "rflow/nn/sequential.hpp"

#include <string>

namespace rflow::nn {

Sequential& Sequential::push_back(std::shared_ptr<Module> m) {
    register_module(std::to_string(layers_.size()), m);
    layers_.push_back(std::move(m));
    return *this;
}

Tensor Sequential::forward(const Tensor& x) {
    Tensor h = x;
    for (auto& m : layers_) h = m->forward(h);
    return h;
}

}  // namespace rflow::nn
