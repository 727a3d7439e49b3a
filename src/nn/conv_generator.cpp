// The convolutional generator (see generator.hpp).
#include "rflow/nn/conv_generator.hpp"

#include "rflow/conv_ops.hpp"
#include "rflow/error.hpp"
#include "rflow/nn/conv.hpp"
#include "rflow/nn/linear.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

struct ConvGenerator::Impl {
    std::shared_ptr<nn::Linear> project;
    std::shared_ptr<nn::Conv2d> up1, up2, out;
};

ConvGenerator::ConvGenerator(const ConvGeneratorConfig& cfg, Generator& gen) : cfg_(cfg), impl_(std::make_shared<Impl>()) {
    RFLOW_CHECK(cfg.latent_dim > 0 && cfg.out_channels > 0 && cfg.base_channels > 0,
                "ConvGenerator: latent_dim, out_channels and base_channels must be > 0");
    RFLOW_CHECK(cfg.image_size >= 4 && cfg.image_size % 4 == 0,
                "ConvGenerator: image_size must be a multiple of 4, got " << cfg.image_size);
    const int64_t c = cfg.base_channels, s = cfg.image_size / 4;
    impl_->project = register_module("project", std::make_shared<nn::Linear>(cfg.latent_dim, 2 * c * s * s, gen));
    impl_->up1 = register_module("up1", std::make_shared<nn::Conv2d>(2 * c, c, 3, gen, 1, 1));
    impl_->up2 = register_module("up2", std::make_shared<nn::Conv2d>(c, c, 3, gen, 1, 1));
    impl_->out = register_module("out", std::make_shared<nn::Conv2d>(c, cfg.out_channels, 3, gen, 1, 1));
}

Tensor ConvGenerator::forward(const Tensor& z) {
    RFLOW_CHECK(z.dim() == 2 && z.size(1) == cfg_.latent_dim,
                "ConvGenerator expects z [N, " << cfg_.latent_dim << "], got " << shape_str(z.shape()));
    const int64_t s = cfg_.image_size / 4;
    Tensor h = silu(impl_->project->forward(z).reshape({z.size(0), 2 * cfg_.base_channels, s, s}));
    h = silu(impl_->up1->forward(upsample_nearest2d(h, 2)));
    h = silu(impl_->up2->forward(upsample_nearest2d(h, 2)));
    return tanh(impl_->out->forward(h));
}

}  // namespace rflow::nn
