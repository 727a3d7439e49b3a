// DiT velocity network (Peebles & Xie 2023), adaLN-Zero variant. Layout, for x [N, C, H, W] and
// patch p, grid h = H / p, w = W / p, L = h w tokens of width d:
//   tokens  = Conv2d(C -> d, kernel = stride = p)(x) as [N, L, d]   (+ sin-cos position when rope = none)
//   c       = Linear(SiLU(Linear(sinusoidal(t)))) + label_embed(y)  [N, d]
//   block:  (shift_a, scale_a, gate_a, shift_m, scale_m, gate_m) = Linear_0(SiLU(c))   (zero-init)
//           x = x + gate_a * attn(LN(x) (1 + scale_a) + shift_a)
//           x = x + gate_m * fc2(GELU(fc1(LN(x) (1 + scale_m) + shift_m)))
//   final:  (shift, scale) = Linear_0(SiLU(c));  y = Linear_0(LN(x) (1 + scale) + shift)  [N, L, p p C]
//   output  = unpatchify(y) [N, C, H, W]
// LN has no affine parameters. Every block starts as the identity and the final layer outputs 0,
// so training starts from v = 0, as the U-Net does.
#include "rflow/nn/dit.hpp"

#include <cmath>

#include "rflow/error.hpp"
#include "rflow/nn/conv.hpp"
#include "rflow/nn/embedding.hpp"
#include "rflow/nn/linear.hpp"
#include "rflow/nn/time_embedding.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

namespace {

constexpr float kLnEps = 1e-6f;

/// A Linear whose weight and bias start at zero (adaLN-Zero modulation, the final projection).
std::shared_ptr<Linear> zero_linear(int64_t in, int64_t out, Generator& gen) {
    auto l = std::make_shared<Linear>(in, out, gen);
    l->weight().fill_(0.f);
    l->bias().fill_(0.f);
    return l;
}

/// x (1 + scale) + shift for x [N, L, d] and per-image shift, scale [N, d].
Tensor modulate(const Tensor& x, const Tensor& shift, const Tensor& scale) {
    return add(mul(x, add(scale.unsqueeze(1), 1.f)), shift.unsqueeze(1));
}

/// The 2-D sin-cos position table [h w, d] (MAE/DiT): the first d/2 columns encode the row i, the
/// last d/2 the column j, each as [sin(pos w_k), cos(pos w_k)], w_k = 10000^(-k / (d/4)), k < d/4.
Tensor sincos_position_table(int64_t h, int64_t w, int64_t d) {
    const int64_t q = d / 4;
    std::vector<float> table(static_cast<size_t>(h * w * d));
    for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
            float* row = &table[static_cast<size_t>((i * w + j) * d)];
            for (int64_t k = 0; k < q; ++k) {
                const double omega = std::pow(10000.0, -static_cast<double>(k) / static_cast<double>(q));
                row[k] = static_cast<float>(std::sin(i * omega));
                row[q + k] = static_cast<float>(std::cos(i * omega));
                row[2 * q + k] = static_cast<float>(std::sin(j * omega));
                row[3 * q + k] = static_cast<float>(std::cos(j * omega));
            }
        }
    return Tensor::from_vector(table, {h * w, d});
}

/// One transformer block with adaLN-Zero conditioning.
class DiTBlock : public Module {
public:
    DiTBlock(const DiTConfig& cfg, const AttentionConfig& acfg, Generator& gen) {
        attn_ = register_module("attn", std::shared_ptr<Attention>(make_attention(acfg, gen)));
        fc1_ = register_module("fc1", std::make_shared<Linear>(cfg.dim, cfg.mlp_ratio * cfg.dim, gen));
        fc2_ = register_module("fc2", std::make_shared<Linear>(cfg.mlp_ratio * cfg.dim, cfg.dim, gen));
        ada_ = register_module("ada", zero_linear(cfg.dim, 6 * cfg.dim, gen));
    }
    /// x [N, L, d], c [N, d] -> [N, L, d].
    Tensor forward(const Tensor& x, const Tensor& c) {
        const int64_t d = x.size(2);
        // m = [shift_a | scale_a | gate_a | shift_m | scale_m | gate_m], each [N, d]
        std::vector<Tensor> m = split(ada_->forward(silu(c)), {d, d, d, d, d, d}, 1);
        Tensor h = attn_->forward(modulate(layer_norm(x, Tensor(), Tensor(), kLnEps), m[0], m[1]));
        Tensor out = add(x, mul(m[2].unsqueeze(1), h));
        h = fc2_->forward(gelu(fc1_->forward(modulate(layer_norm(out, Tensor(), Tensor(), kLnEps), m[3], m[4]))));
        return add(out, mul(m[5].unsqueeze(1), h));
    }

private:
    std::shared_ptr<Attention> attn_;
    std::shared_ptr<Linear> fc1_, fc2_, ada_;
};

/// An ordered container ("blocks.0", "blocks.1", ...), as PyTorch's ModuleList.
class BlockList : public Module {
public:
    std::shared_ptr<DiTBlock> add(std::shared_ptr<DiTBlock> b) {
        blocks.push_back(register_module(std::to_string(blocks.size()), std::move(b)));
        return blocks.back();
    }
    std::vector<std::shared_ptr<DiTBlock>> blocks;
};

/// adaLN (shift, scale) then a zero-initialised Linear to p p C values per token.
class FinalLayer : public Module {
public:
    FinalLayer(int64_t dim, int64_t out, Generator& gen) {
        ada_ = register_module("ada", zero_linear(dim, 2 * dim, gen));
        linear_ = register_module("linear", zero_linear(dim, out, gen));
    }
    Tensor forward(const Tensor& x, const Tensor& c) {
        const int64_t d = x.size(2);
        std::vector<Tensor> m = split(ada_->forward(silu(c)), {d, d}, 1);
        return linear_->forward(modulate(layer_norm(x, Tensor(), Tensor(), kLnEps), m[0], m[1]));
    }

private:
    std::shared_ptr<Linear> ada_, linear_;
};

}  // namespace

struct DiT::Impl {
    std::shared_ptr<Conv2d> patch_embed;
    std::shared_ptr<SinusoidalEmbedding> time_embed;
    std::shared_ptr<Linear> time1, time2;
    std::shared_ptr<Embedding> label_embed;
    std::shared_ptr<BlockList> blocks;
    std::shared_ptr<FinalLayer> final;
    Tensor pos_embed;  // [1, L, d] buffer when rope = none
    int64_t grid = 0;  // patches per side
};

AttentionConfig DiT::attention_config() const {
    AttentionConfig a;
    a.kind = cfg_.attention;
    a.dim = cfg_.dim;
    a.heads = cfg_.heads;
    a.kv_heads = cfg_.kv_heads;
    a.kv_latent = cfg_.kv_latent;
    a.q_latent = cfg_.q_latent;
    a.rope_dim = cfg_.rope_dim;
    a.rope = cfg_.rope;
    a.grid_width = cfg_.rope == "2d" ? cfg_.image_size / cfg_.patch : 0;
    a.scale = cfg_.scale;
    return a;
}

DiT::DiT(const DiTConfig& cfg, Generator& gen) : cfg_(cfg), impl_(std::make_shared<Impl>()) {
    RFLOW_CHECK(cfg.in_channels > 0 && cfg.image_size > 0, "DiT: in_channels and image_size must be positive");
    RFLOW_CHECK(cfg.patch > 0 && cfg.image_size % cfg.patch == 0,
                "DiT: image_size " << cfg.image_size << " is not divisible by patch " << cfg.patch);
    RFLOW_CHECK(cfg.dim > 0 && cfg.depth >= 1 && cfg.heads > 0 && cfg.mlp_ratio > 0,
                "DiT: dim, depth, heads and mlp_ratio must be positive");
    RFLOW_CHECK(cfg.num_classes >= 0, "DiT: num_classes must be >= 0, got " << cfg.num_classes);
    RFLOW_CHECK(cfg.rope == "2d" || cfg.rope == "none", "DiT: rope must be 2d or none, got '" << cfg.rope << "'");
    RFLOW_CHECK(cfg.rope != "none" || cfg.dim % 4 == 0,
                "DiT: rope none uses a 2-D sin-cos position embedding, which needs dim divisible by 4, got " << cfg.dim);
    Impl& m = *impl_;
    m.grid = cfg.image_size / cfg.patch;
    const int64_t d = cfg.dim;
    m.patch_embed = register_module("patch_embed", std::make_shared<Conv2d>(cfg.in_channels, d, cfg.patch, gen, cfg.patch, 0));
    if (cfg.rope == "none")
        m.pos_embed = register_buffer("pos_embed", sincos_position_table(m.grid, m.grid, d).reshape({1, m.grid * m.grid, d}));
    m.time_embed = register_module("time_embed", std::make_shared<SinusoidalEmbedding>(d));
    m.time1 = register_module("time_mlp1", std::make_shared<Linear>(d, d, gen));
    m.time2 = register_module("time_mlp2", std::make_shared<Linear>(d, d, gen));
    if (cfg.num_classes > 0)
        m.label_embed = register_module("label_embed", std::make_shared<Embedding>(cfg.num_classes + 1, d, gen));
    const AttentionConfig acfg = attention_config();
    m.blocks = register_module("blocks", std::make_shared<BlockList>());
    for (int64_t i = 0; i < cfg.depth; ++i) m.blocks->add(std::make_shared<DiTBlock>(cfg, acfg, gen));
    m.final = register_module("final", std::make_shared<FinalLayer>(d, cfg.patch * cfg.patch * cfg.in_channels, gen));
}

Tensor DiT::forward(const Tensor& x, const Tensor& t) {
    if (cfg_.num_classes == 0) return forward(x, t, {});
    return forward(x, t, std::vector<int64_t>(x.size(0), cfg_.num_classes));
}

Tensor DiT::forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels) {
    return run(x, t, &labels, Tensor());
}

Tensor DiT::forward_embedded(const Tensor& x, const Tensor& t, const Tensor& embedding) {
    RFLOW_CHECK(embedding.dim() == 2 && embedding.size(0) == x.size(0) && embedding.size(1) == cfg_.dim,
                "DiT: conditioning embedding must be [" << x.size(0) << ", " << cfg_.dim << "], got "
                                                        << shape_str(embedding.shape()));
    return run(x, t, nullptr, embedding);
}

Tensor DiT::run(const Tensor& x, const Tensor& t, const std::vector<int64_t>* labels, const Tensor& embedding) {
    RFLOW_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels && x.size(2) == cfg_.image_size && x.size(3) == cfg_.image_size,
                "DiT expects x [N, " << cfg_.in_channels << ", " << cfg_.image_size << ", " << cfg_.image_size << "], got "
                                     << shape_str(x.shape()));
    RFLOW_CHECK(t.numel() == x.size(0), "DiT: one time per image expected, got t " << shape_str(t.shape()));
    Impl& m = *impl_;
    const int64_t n = x.size(0), d = cfg_.dim, p = cfg_.patch, g = m.grid, c = cfg_.in_channels;
    // conditioning c [N, d]
    Tensor cond = m.time2->forward(silu(m.time1->forward(m.time_embed->forward(t.reshape({n})))));
    if (embedding.defined()) {
        cond = add(cond, embedding);
    } else if (m.label_embed) {
        RFLOW_CHECK(static_cast<int64_t>(labels->size()) == n, "DiT: " << labels->size() << " labels for " << n << " images");
        cond = add(cond, m.label_embed->forward(*labels));
    }
    // patchify: [N, d, g, g] -> [N, L, d], token index i g + j for the patch at row i, column j
    Tensor h = m.patch_embed->forward(x).reshape({n, d, g * g}).transpose(1, 2);
    if (m.pos_embed.defined()) h = add(h, m.pos_embed.to(h.device()));  // the copy kept here stays put on Module::to
    for (auto& block : m.blocks->blocks) h = block->forward(h, cond);
    Tensor y = m.final->forward(h, cond);  // [N, L, p p C], per token ordered (pi, pj, channel)
    // unpatchify: [N, g, g, p, p, C] -> [N, C, g, p, g, p] -> [N, C, H, W]
    return y.reshape({n, g, g, p, p, c}).permute({0, 5, 1, 3, 2, 4}).reshape({n, c, g * p, g * p});
}

}  // namespace rflow::nn
