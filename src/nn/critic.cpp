// MLP and convolutional critics (see critic.hpp).
#include "rflow/nn/critic.hpp"

#include "rflow/error.hpp"
#include "rflow/nn/activation.hpp"
#include "rflow/nn/conv.hpp"
#include "rflow/nn/linear.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

struct MLPCritic::Impl {
    std::vector<std::shared_ptr<nn::Linear>> layers;  // hidden layers, then the output layer
    std::vector<Tensor> ln_weight, ln_bias;
    std::shared_ptr<nn::Activation> act;
};

MLPCritic::MLPCritic(const MLPCriticConfig& cfg, Generator& gen) : cfg_(cfg), impl_(std::make_shared<Impl>()) {
    RFLOW_CHECK(cfg.in_dim > 0, "MLPCritic: in_dim must be > 0");
    impl_->act = nn::make_activation(cfg.activation);
    int64_t in = cfg.in_dim;
    for (size_t i = 0; i <= cfg.hidden.size(); ++i) {
        const int64_t out = i < cfg.hidden.size() ? cfg.hidden[i] : 1;
        RFLOW_CHECK(out > 0, "MLPCritic: hidden widths must be > 0");
        impl_->layers.push_back(register_module("layer" + std::to_string(i), std::make_shared<nn::Linear>(in, out, gen)));
        if (cfg.layer_norm && i < cfg.hidden.size()) {
            impl_->ln_weight.push_back(register_parameter("norm" + std::to_string(i) + "_weight", Tensor::ones({out})));
            impl_->ln_bias.push_back(register_parameter("norm" + std::to_string(i) + "_bias", Tensor::zeros({out})));
        }
        in = out;
    }
}

Tensor MLPCritic::forward(const Tensor& x) {
    RFLOW_CHECK(x.dim() == 2 && x.size(1) == cfg_.in_dim,
                "MLPCritic expects x [N, " << cfg_.in_dim << "], got " << shape_str(x.shape()));
    Tensor h = x;
    const size_t hidden = cfg_.hidden.size();
    for (size_t i = 0; i < hidden; ++i) {
        h = impl_->layers[i]->forward(h);
        if (cfg_.layer_norm) h = layer_norm(h, impl_->ln_weight[i], impl_->ln_bias[i]);
        h = impl_->act->forward(h);
    }
    return impl_->layers[hidden]->forward(h).reshape({x.size(0)});
}

struct ConvCritic::Impl {
    std::vector<std::shared_ptr<nn::Conv2d>> convs;
    std::shared_ptr<nn::Linear> head;
    std::shared_ptr<nn::Activation> act;
};

ConvCritic::ConvCritic(const ConvCriticConfig& cfg, Generator& gen) : cfg_(cfg), impl_(std::make_shared<Impl>()) {
    RFLOW_CHECK(cfg.in_channels > 0 && cfg.base_channels > 0 && cfg.levels >= 0,
                "ConvCritic: in_channels and base_channels must be > 0, levels >= 0");
    impl_->act = nn::make_activation(cfg.activation);
    int64_t ch = cfg.base_channels, size = cfg.image_size;
    impl_->convs.push_back(register_module("conv_in", std::make_shared<nn::Conv2d>(cfg.in_channels, ch, 3, gen, 1, 1)));
    for (int64_t l = 0; l < cfg.levels; ++l) {
        impl_->convs.push_back(register_module("down" + std::to_string(l),
                                               std::make_shared<nn::Conv2d>(ch, 2 * ch, 3, gen, 2, 1)));
        ch *= 2;
        size = (size - 1) / 2 + 1;  // stride 2, padding 1, kernel 3
    }
    impl_->head = register_module("head", std::make_shared<nn::Linear>(ch * size * size, 1, gen));
}

Tensor ConvCritic::forward(const Tensor& x) {
    RFLOW_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels && x.size(2) == cfg_.image_size &&
                    x.size(3) == cfg_.image_size,
                "ConvCritic expects x [N, " << cfg_.in_channels << ", " << cfg_.image_size << ", "
                                            << cfg_.image_size << "], got " << shape_str(x.shape()));
    Tensor h = x;
    for (auto& conv : impl_->convs) h = impl_->act->forward(conv->forward(h));
    return impl_->head->forward(h.reshape({x.size(0), -1})).reshape({x.size(0)});
}

}  // namespace rflow::nn
