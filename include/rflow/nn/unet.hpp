// U-Net velocity network for images (DDPM-style): residual blocks with GroupNorm and SiLU, the
// time (and class) embedding added inside every block, self-attention at low resolutions, skip
// connections between the down and up paths. Class conditioning uses a label embedding with one
// extra "null" label, so the same network gives the unconditional velocity for classifier-free
// guidance.
#pragma once

#include <memory>
#include <vector>

#include "rflow/nn/velocity_model.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

struct UNetConfig {
    int64_t in_channels = 1;
    int64_t image_size = 28;
    int64_t base_channels = 32;
    std::vector<int64_t> channel_mults{1, 2, 2};  ///< one level each; resolution halves per level
    int64_t res_blocks = 2;                       ///< residual blocks per level (down path)
    std::vector<int64_t> attention_levels{2};     ///< levels (0 = full resolution) with attention
    int64_t heads = 4;
    int64_t num_classes = 0;                      ///< 0 = unconditional
    float dropout = 0.1f;
    int64_t groups = 8;                           ///< GroupNorm groups
};

class RFLOW_API UNet : public VelocityModel {
public:
    UNet(const UNetConfig& cfg, Generator& gen);
    /// x [N, C, H, W], t [N]; unconditional (null label when the model is class-conditional).
    Tensor forward(const Tensor& x, const Tensor& t) override;
    /// labels[i] in [0, num_classes]; num_classes is the null label.
    Tensor forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels) override;
    int64_t num_classes() const override { return cfg_.num_classes; }
    const UNetConfig& config() const { return cfg_; }

private:
    struct Impl;
    UNetConfig cfg_;
    std::shared_ptr<Impl> impl_;
};

}  // namespace rflow::nn
