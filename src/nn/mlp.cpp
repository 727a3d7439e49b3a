// MLP built from Linear and Activation layers (state-dict names net.0.weight, net.2.bias, ...).
#include "rflow/nn/mlp.hpp"

#include "rflow/nn/activation.hpp"
#include "rflow/nn/linear.hpp"

namespace rflow::nn {

MLP::MLP(int64_t in, const std::vector<int64_t>& hidden, int64_t out, Generator& gen, const std::string& activation) {
    net_ = register_module("net", std::make_shared<Sequential>());
    int64_t width = in;
    for (int64_t h : hidden) {
        net_->push_back(std::make_shared<Linear>(width, h, gen));
        net_->push_back(make_activation(activation));
        width = h;
    }
    net_->push_back(std::make_shared<Linear>(width, out, gen));
}

Tensor MLP::forward(const Tensor& x) { return net_->forward(x); }

}  // namespace rflow::nn
