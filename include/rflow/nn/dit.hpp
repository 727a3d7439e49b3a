// DiT velocity network for images (Peebles & Xie, "Scalable Diffusion Models with Transformers"):
// the image is cut into patch x patch tokens, a stack of transformer blocks conditioned by
// adaLN-Zero on the time (and class) embedding maps them, and a final adaLN + Linear layer turns
// each token back into its patch. The attention layer is any of nn/attention.hpp's kinds (mha,
// mqa, gqa, mla) with 2-D RoPE over the patch grid or a fixed 2-D sin-cos position embedding.
// Class conditioning uses one extra "null" label, as the U-Net's, for classifier-free guidance.
#pragma once

#include <memory>
#include <string>

#include "rflow/nn/attention.hpp"
#include "rflow/nn/velocity_model.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

struct DiTConfig {
    int64_t in_channels = 1;
    int64_t image_size = 28;       ///< square images; must be divisible by patch
    int64_t patch = 4;             ///< patch side p: L = (image_size / p)^2 tokens
    int64_t dim = 128;             ///< token width d
    int64_t depth = 4;             ///< transformer blocks
    int64_t heads = 4;
    int64_t mlp_ratio = 4;         ///< MLP hidden width = mlp_ratio * dim
    int64_t num_classes = 0;       ///< 0 = unconditional
    // attention layer (AttentionConfig's fields of the same meaning)
    std::string attention = "mha"; ///< mha | mqa | gqa | mla
    int64_t kv_heads = 0;          ///< gqa: key/value groups (must divide heads)
    int64_t kv_latent = 0;         ///< mla: d_c
    int64_t q_latent = 0;          ///< mla: d'_c (0 = queries straight from the tokens)
    int64_t rope_dim = 0;          ///< mla: decoupled RoPE width d_r
    std::string rope = "2d";       ///< 2d: axial RoPE over the patch grid; none: fixed sin-cos embedding
    std::string scale = "default"; ///< softmax scale policy: default | gradmax | cosine | logn
};

class RFLOW_API DiT : public VelocityModel {
public:
    /// Errors name the bad field (image_size not divisible by patch, unknown rope, ...).
    DiT(const DiTConfig& cfg, Generator& gen);
    /// x [N, C, H, W], t [N]; unconditional (null label when the model is class-conditional).
    Tensor forward(const Tensor& x, const Tensor& t) override;
    /// labels[i] in [0, num_classes]; num_classes is the null label.
    Tensor forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels) override;
    /// The velocity with an external conditioning vector e [N, dim] added to the time embedding in
    /// place of the label embedding (how a prompt encoder conditions the DiT).
    Tensor forward_embedded(const Tensor& x, const Tensor& t, const Tensor& embedding);
    int64_t num_classes() const override { return cfg_.num_classes; }
    const DiTConfig& config() const { return cfg_; }
    /// The attention layer's config that every block uses (filled from this config).
    AttentionConfig attention_config() const;

private:
    Tensor run(const Tensor& x, const Tensor& t, const std::vector<int64_t>* labels, const Tensor& embedding);
    struct Impl;
    DiTConfig cfg_;
    std::shared_ptr<Impl> impl_;
};

}  // namespace rflow::nn
