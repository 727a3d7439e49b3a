// Critics D(x) -> one score per sample, for WGAN-GP and the ReFlow-derived GAN (SPEC section 1).
// No batch normalisation anywhere: the gradient penalty is a per-sample quantity and batch
// statistics would couple the samples (layer norm is allowed and optional). Every op inside is
// differentiable twice, since the penalty differentiates grad_x D with respect to the weights.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

/// A critic maps x [N, ...] to scores [N].
class RFLOW_API Critic : public nn::Module {
public:
    Tensor forward(const Tensor& x) override = 0;
};

struct MLPCriticConfig {
    int64_t in_dim = 2;
    std::vector<int64_t> hidden{512, 512, 512};
    std::string activation = "silu";  ///< any name of nn::activation (smooth ones suit the penalty)
    bool layer_norm = false;          ///< layer norm (with affine weights) after each hidden Linear
};

/// x [N, in_dim] -> Linear -> (layer norm) -> activation -> ... -> Linear -> [N].
class RFLOW_API MLPCritic : public Critic {
public:
    MLPCritic(const MLPCriticConfig& cfg, Generator& gen);
    Tensor forward(const Tensor& x) override;
    const MLPCriticConfig& config() const { return cfg_; }

private:
    struct Impl;
    MLPCriticConfig cfg_;
    std::shared_ptr<Impl> impl_;
};

struct ConvCriticConfig {
    int64_t in_channels = 1;
    int64_t image_size = 28;
    int64_t base_channels = 32;
    int64_t levels = 2;                ///< stride-2 stages; channels double per stage
    std::string activation = "silu";
};

/// x [N, C, S, S] -> conv3x3 -> act -> per level: conv3x3 stride 2 (channels x2) -> act ->
/// flatten -> Linear -> [N].
class RFLOW_API ConvCritic : public Critic {
public:
    ConvCritic(const ConvCriticConfig& cfg, Generator& gen);
    Tensor forward(const Tensor& x) override;
    const ConvCriticConfig& config() const { return cfg_; }

private:
    struct Impl;
    ConvCriticConfig cfg_;
    std::shared_ptr<Impl> impl_;
};

}  // namespace rflow::nn
