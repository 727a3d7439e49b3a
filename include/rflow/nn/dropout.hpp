// Dropout layer: zeroes entries with probability p in training (scaling the rest by 1/(1 - p)),
// with its own Philox generator so the masks are reproducible from the seed.
#pragma once

#include "rflow/conv_ops.hpp"
#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

/// y = dropout(x, p, generator, is_training()): the identity in evaluation mode (eval()).
class RFLOW_API Dropout : public Module {
public:
    /// p in [0, 1]; masks come from Generator(seed, stream) and advance it call by call.
    explicit Dropout(float p = 0.5f, uint64_t seed = 0, uint64_t stream = 0);
    Tensor forward(const Tensor& x) override { return dropout(x, p_, gen_, is_training()); }
    float p() const { return p_; }
    /// The mask generator (save its state() in a checkpoint to resume the same masks).
    Generator& generator() { return gen_; }

private:
    float p_;
    Generator gen_;
};

}  // namespace rflow::nn
