// Normalisation layers for images: GroupNorm (PyTorch layout and defaults).
#pragma once

#include "rflow/conv_ops.hpp"
#include "rflow/nn/module.hpp"

namespace rflow::nn {

/// y = group_norm(x, groups, weight, bias, eps) over x [N, C, *]; weight = 1 and bias = 0 at start.
class RFLOW_API GroupNorm : public Module {
public:
    /// Errors unless channels is a positive multiple of groups.
    GroupNorm(int64_t groups, int64_t channels, float eps = 1e-5f, bool affine = true);
    Tensor forward(const Tensor& x) override;
    Tensor& weight() { return weight_; }  ///< undefined without affine
    Tensor& bias() { return bias_; }
    int64_t groups() const { return groups_; }
    int64_t channels() const { return channels_; }

private:
    int64_t groups_, channels_;
    float eps_;
    Tensor weight_, bias_;
};

}  // namespace rflow::nn
