// Prompt encoder: embeddings, pre-norm transformer blocks, last-token pooling (see prompt_encoder.hpp).
#include "rflow/nn/prompt_encoder.hpp"

#include <algorithm>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/nn/attention.hpp"
#include "rflow/nn/embedding.hpp"
#include "rflow/nn/linear.hpp"
#include "rflow/nn/norm.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

namespace {

class EncoderBlock : public Module {
public:
    EncoderBlock(const PromptEncoderConfig& c, Generator& gen) {
        AttentionConfig a;
        a.kind = c.attention;
        a.dim = c.dim;
        a.heads = c.heads;
        a.kv_heads = c.kv_heads;
        a.rope = "1d";
        norm1_ = register_module("norm1", std::make_shared<RMSNorm>(c.dim));
        attn_ = register_module("attn", std::shared_ptr<Attention>(make_attention(a, gen)));
        norm2_ = register_module("norm2", std::make_shared<RMSNorm>(c.dim));
        fc1_ = register_module("fc1", std::make_shared<Linear>(c.dim, 4 * c.dim, gen));
        fc2_ = register_module("fc2", std::make_shared<Linear>(4 * c.dim, c.dim, gen));
        // Zero-initialised residual branches (as DiT's adaLN-Zero): the encoder starts as a bag of
        // token embeddings, whose prompts are far apart, and learns to mix tokens from there. With
        // random branches the mixing makes every prompt's pooled vector nearly the same and the
        // image model learns to ignore it (observed: no class signal after 1,000 steps).
        NoGradGuard ng;
        for (auto& [name, p] : named_parameters())
            if (name.rfind("attn.out.", 0) == 0 || name.rfind("fc2.", 0) == 0) p.fill_(0.f);
    }
    Tensor forward(const Tensor& x) override {
        Tensor h = add(x, attn_->forward(norm1_->forward(x)));
        return add(h, fc2_->forward(gelu(fc1_->forward(norm2_->forward(h)))));
    }

private:
    std::shared_ptr<RMSNorm> norm1_, norm2_;
    std::shared_ptr<Attention> attn_;
    std::shared_ptr<Linear> fc1_, fc2_;
};

/// "blocks.0", "blocks.1", ...: an ordered container (PyTorch's ModuleList).
class EncoderBlocks : public Module {
public:
    void add(std::shared_ptr<EncoderBlock> b) { list.push_back(register_module(std::to_string(list.size()), std::move(b))); }
    std::vector<std::shared_ptr<EncoderBlock>> list;
};

}  // namespace

struct PromptEncoder::Impl {
    std::shared_ptr<Embedding> embed;
    std::shared_ptr<EncoderBlocks> blocks;
    std::shared_ptr<RMSNorm> norm;
    std::shared_ptr<Linear> out;
};

PromptEncoder::PromptEncoder(const PromptEncoderConfig& cfg, Generator& gen)
    : cfg_(cfg), impl_(std::make_shared<Impl>()) {
    RFLOW_CHECK(cfg.vocab_size > 0 && cfg.max_tokens > 0 && cfg.dim > 0 && cfg.depth >= 0 && cfg.out_dim > 0,
                "PromptEncoder: vocab_size, max_tokens, dim and out_dim must be positive");
    RFLOW_CHECK(cfg.attention != "mla", "PromptEncoder: use mha, mqa or gqa (mla would need rope_dim settings)");
    Impl& m = *impl_;
    m.embed = register_module("embed", std::make_shared<Embedding>(cfg.vocab_size + 1, cfg.dim, gen));
    m.blocks = register_module("blocks", std::make_shared<EncoderBlocks>());
    for (int64_t i = 0; i < cfg.depth; ++i) m.blocks->add(std::make_shared<EncoderBlock>(cfg, gen));
    m.norm = register_module("norm", std::make_shared<RMSNorm>(cfg.dim));
    if (cfg.out_dim != cfg.dim) m.out = register_module("out", std::make_shared<Linear>(cfg.dim, cfg.out_dim, gen, false));
}

Tensor PromptEncoder::forward(const std::vector<std::vector<int64_t>>& tokens) {
    RFLOW_CHECK(!tokens.empty(), "PromptEncoder: no prompts");
    const int64_t n = static_cast<int64_t>(tokens.size()), l = cfg_.max_tokens;
    std::vector<int64_t> ids(static_cast<size_t>(n * l), cfg_.vocab_size);  // pad everywhere first
    for (int64_t i = 0; i < n; ++i) {
        const int64_t len = std::min<int64_t>(l, static_cast<int64_t>(tokens[i].size()));
        for (int64_t j = 0; j < len; ++j) {
            const int64_t id = tokens[i][j];
            RFLOW_CHECK(id >= 0 && id < cfg_.vocab_size,
                        "PromptEncoder: token id " << id << " outside [0, " << cfg_.vocab_size << ")");
            ids[i * l + j] = id;
        }
    }
    Impl& m = *impl_;
    Tensor h = m.embed->forward(ids).reshape({n, l, cfg_.dim});
    for (auto& b : m.blocks->list) h = b->forward(h);
    // the state of each prompt's last token (an empty prompt pools to 0)
    std::vector<int64_t> last(static_cast<size_t>(n), 0);
    std::vector<float> has(static_cast<size_t>(n), 0.f);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t len = std::min<int64_t>(l, static_cast<int64_t>(tokens[i].size()));
        last[i] = i * l + std::max<int64_t>(len - 1, 0);
        has[i] = len > 0 ? 1.f : 0.f;
    }
    const Tensor pooled = mul(index_select(h.reshape({n * l, cfg_.dim}), 0, last),
                              Tensor::from_vector(has, {n, 1}, h.device()));
    const Tensor e = m.norm->forward(pooled);
    return m.out ? m.out->forward(e) : e;
}

}  // namespace rflow::nn
