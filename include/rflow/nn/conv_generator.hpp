// Generators G(z) for GAN training: an MLP for points and a small convolutional generator for
// images (z -> Linear -> [2c, S/4, S/4] -> nearest x2 -> conv -> nearest x2 -> conv -> conv ->
// tanh, so images land in [-1, 1] like the data).
#pragma once

#include <memory>

#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

struct ConvGeneratorConfig {
    int64_t latent_dim = 64;
    int64_t out_channels = 1;
    int64_t image_size = 28;      ///< divisible by 4
    int64_t base_channels = 32;
};

class RFLOW_API ConvGenerator : public nn::Module {
public:
    ConvGenerator(const ConvGeneratorConfig& cfg, Generator& gen);
    /// z [N, latent_dim] -> images [N, C, S, S] in [-1, 1].
    Tensor forward(const Tensor& z) override;
    const ConvGeneratorConfig& config() const { return cfg_; }

private:
    struct Impl;
    ConvGeneratorConfig cfg_;
    std::shared_ptr<Impl> impl_;
};

}  // namespace rflow::nn
