// Normalisation layers: GroupNorm for images (PyTorch layout and defaults) and RMSNorm over the last
// axis (the latent norm of multi-head latent attention).
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
    /// silu(forward(x)) as one fused op (group_norm_silu): the norm's output is not kept.
    Tensor forward_silu(const Tensor& x);
    Tensor& weight() { return weight_; }  ///< undefined without affine
    Tensor& bias() { return bias_; }
    int64_t groups() const { return groups_; }
    int64_t channels() const { return channels_; }

private:
    void check_input(const Tensor& x) const;
    int64_t groups_, channels_;
    float eps_;
    Tensor weight_, bias_;
};

/// y = x / sqrt(mean(x^2 over the last axis) + eps) * weight, weight [dim] = 1 at start.
class RFLOW_API RMSNorm : public Module {
public:
    explicit RMSNorm(int64_t dim, float eps = 1e-6f);
    Tensor forward(const Tensor& x) override;
    Tensor& weight() { return weight_; }

private:
    int64_t dim_;
    float eps_;
    Tensor weight_;
};

}  // namespace rflow::nn
