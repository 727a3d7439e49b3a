// A small CNN image classifier (conv-SiLU-pool twice, then two linear layers), used to evaluate
// image generators: class accuracy of conditional samples, and features for a Frechet distance.
#pragma once

#include <memory>

#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

struct ClassifierConfig {
    int64_t in_channels = 1;
    int64_t image_size = 28;  ///< divisible by 4
    int64_t num_classes = 10;
    int64_t width = 32;       ///< channels of the first conv (the second has twice as many)
    int64_t features = 128;   ///< size of the penultimate layer (the Frechet-distance features)
};

class RFLOW_API Classifier : public Module {
public:
    Classifier(const ClassifierConfig& cfg, Generator& gen);
    /// Logits [N, num_classes] for images [N, C, H, W] in [-1, 1].
    Tensor forward(const Tensor& x) override;
    /// Penultimate activations [N, features].
    Tensor features(const Tensor& x);
    const ClassifierConfig& config() const { return cfg_; }

private:
    ClassifierConfig cfg_;
    std::shared_ptr<Module> conv1_, conv2_, fc1_, fc2_;
};

}  // namespace rflow::nn
