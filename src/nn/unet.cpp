// U-Net velocity network: residual blocks, attention at low resolution, skips, time and class
// embeddings. Layout (defaults, 28x28): conv_in 32 -> level 0 (32 ch, 28x28) -> level 1 (64 ch,
// 14x14) -> level 2 (64 ch, 7x7, attention) -> middle (res, attention, res) -> the mirrored up
// path with concatenated skips -> GroupNorm, SiLU, conv_out (zero-initialised, so training
// starts from v = 0).
#include "rflow/nn/unet.hpp"

#include <algorithm>
#include <cmath>

#include "rflow/conv_ops.hpp"
#include "rflow/error.hpp"
#include "rflow/nn/attention.hpp"
#include "rflow/nn/conv.hpp"
#include "rflow/nn/dropout.hpp"
#include "rflow/nn/embedding.hpp"
#include "rflow/nn/linear.hpp"
#include "rflow/nn/norm.hpp"
#include "rflow/nn/time_embedding.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

namespace {

std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, Generator& gen) {
    return std::make_shared<Conv2d>(in, out, k, gen, stride, pad);
}

/// GN -> SiLU -> conv3x3 -> + Linear(emb) -> GN -> SiLU -> dropout -> conv3x3, plus a 1x1 skip
/// (each GN -> SiLU one fused op).
class ResBlock : public Module {
public:
    ResBlock(int64_t in, int64_t out, int64_t emb, int64_t groups, float dropout, Generator& gen) {
        norm1_ = register_module("norm1", std::make_shared<GroupNorm>(groups, in));
        conv1_ = register_module("conv1", conv(in, out, 3, 1, 1, gen));
        emb_ = register_module("emb", std::make_shared<Linear>(emb, out, gen));
        norm2_ = register_module("norm2", std::make_shared<GroupNorm>(groups, out));
        drop_ = register_module("dropout", std::make_shared<Dropout>(dropout, gen.seed() + 17));
        conv2_ = register_module("conv2", conv(out, out, 3, 1, 1, gen));
        if (in != out) skip_ = register_module("skip", conv(in, out, 1, 1, 0, gen));
    }
    Tensor forward(const Tensor& x, const Tensor& emb) {
        Tensor h = conv1_->forward(norm1_->forward_silu(x));
        Tensor e = emb_->forward(silu(emb));  // [N, out]
        h = add(h, e.reshape({e.size(0), e.size(1), 1, 1}));
        h = conv2_->forward(drop_->forward(norm2_->forward_silu(h)));
        return add(skip_ ? skip_->forward(x) : x, h);
    }

private:
    std::shared_ptr<GroupNorm> norm1_, norm2_;
    std::shared_ptr<Conv2d> conv1_, conv2_, skip_;
    std::shared_ptr<Linear> emb_;
    std::shared_ptr<Dropout> drop_;
};

/// x + MHA(GN(x)) over the H*W positions as tokens.
class AttentionBlock : public Module {
public:
    AttentionBlock(int64_t ch, int64_t heads, int64_t groups, Generator& gen) {
        norm_ = register_module("norm", std::make_shared<GroupNorm>(groups, ch));
        AttentionConfig cfg;
        cfg.dim = ch;
        cfg.heads = heads;
        attn_ = register_module("attn", std::shared_ptr<Attention>(make_attention(cfg, gen)));
    }
    Tensor forward(const Tensor& x) override {
        const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
        Tensor tokens = norm_->forward(x).reshape({n, c, h * w}).transpose(1, 2);  // [N, HW, C]
        Tensor out = attn_->forward(tokens).transpose(1, 2).reshape({n, c, h, w});
        return add(x, out);
    }

private:
    std::shared_ptr<GroupNorm> norm_;
    std::shared_ptr<Attention> attn_;
};

}  // namespace

struct UNet::Impl {
    std::shared_ptr<SinusoidalEmbedding> time_embed;
    std::shared_ptr<Linear> time1, time2;
    std::shared_ptr<Embedding> label_embed;
    std::shared_ptr<Conv2d> conv_in, conv_out;
    std::shared_ptr<GroupNorm> norm_out;
    // down path: blocks (ResBlock + optional attention) and downsamplers, in order
    struct Step {
        std::shared_ptr<ResBlock> res;
        std::shared_ptr<AttentionBlock> attn;
        std::shared_ptr<Conv2d> resample;  // stride-2 conv (down) or conv after nearest x2 (up)
    };
    std::vector<Step> down, up;
    std::shared_ptr<ResBlock> mid1, mid2;
    std::shared_ptr<AttentionBlock> mid_attn;
};

UNet::UNet(const UNetConfig& cfg, Generator& gen) : cfg_(cfg), impl_(std::make_shared<Impl>()) {
    const int64_t levels = static_cast<int64_t>(cfg.channel_mults.size());
    RFLOW_CHECK(levels >= 1 && cfg.base_channels > 0 && cfg.res_blocks >= 1 && cfg.in_channels > 0,
                "UNet: needs at least one level, base_channels > 0, res_blocks >= 1");
    RFLOW_CHECK(cfg.image_size % (int64_t{1} << (levels - 1)) == 0,
                "UNet: image_size " << cfg.image_size << " is not divisible by 2^" << levels - 1 << " (levels)");
    auto attn_at = [&](int64_t level) {
        return std::find(cfg.attention_levels.begin(), cfg.attention_levels.end(), level) != cfg.attention_levels.end();
    };
    Impl& m = *impl_;
    const int64_t base = cfg.base_channels, emb = 4 * base;
    m.time_embed = register_module("time_embed", std::make_shared<SinusoidalEmbedding>(base));
    m.time1 = register_module("time_mlp1", std::make_shared<Linear>(base, emb, gen));
    m.time2 = register_module("time_mlp2", std::make_shared<Linear>(emb, emb, gen));
    if (cfg.num_classes > 0)
        m.label_embed = register_module("label_embed", std::make_shared<Embedding>(cfg.num_classes + 1, emb, gen));
    m.conv_in = register_module("conv_in", conv(cfg.in_channels, base, 3, 1, 1, gen));

    std::vector<int64_t> skip_channels{base};
    int64_t ch = base;
    for (int64_t level = 0; level < levels; ++level) {
        const int64_t out = base * cfg.channel_mults[level];
        for (int64_t b = 0; b < cfg.res_blocks; ++b) {
            const std::string name = "down" + std::to_string(level) + "_" + std::to_string(b);
            Impl::Step s;
            s.res = register_module(name, std::make_shared<ResBlock>(ch, out, emb, cfg.groups, cfg.dropout, gen));
            if (attn_at(level)) s.attn = register_module(name + "_attn", std::make_shared<AttentionBlock>(out, cfg.heads, cfg.groups, gen));
            m.down.push_back(s);
            ch = out;
            skip_channels.push_back(ch);
        }
        if (level + 1 < levels) {
            Impl::Step s;
            s.resample = register_module("down" + std::to_string(level) + "_resample", conv(ch, ch, 3, 2, 1, gen));
            m.down.push_back(s);
            skip_channels.push_back(ch);
        }
    }
    m.mid1 = register_module("mid1", std::make_shared<ResBlock>(ch, ch, emb, cfg.groups, cfg.dropout, gen));
    m.mid_attn = register_module("mid_attn", std::make_shared<AttentionBlock>(ch, cfg.heads, cfg.groups, gen));
    m.mid2 = register_module("mid2", std::make_shared<ResBlock>(ch, ch, emb, cfg.groups, cfg.dropout, gen));
    for (int64_t level = levels - 1; level >= 0; --level) {
        const int64_t out = base * cfg.channel_mults[level];
        for (int64_t b = 0; b <= cfg.res_blocks; ++b) {
            const std::string name = "up" + std::to_string(level) + "_" + std::to_string(b);
            const int64_t skip = skip_channels.back();
            skip_channels.pop_back();
            Impl::Step s;
            s.res = register_module(name, std::make_shared<ResBlock>(ch + skip, out, emb, cfg.groups, cfg.dropout, gen));
            if (attn_at(level)) s.attn = register_module(name + "_attn", std::make_shared<AttentionBlock>(out, cfg.heads, cfg.groups, gen));
            m.up.push_back(s);
            ch = out;
        }
        if (level > 0) {
            Impl::Step s;
            s.resample = register_module("up" + std::to_string(level) + "_resample", conv(ch, ch, 3, 1, 1, gen));
            m.up.push_back(s);
        }
    }
    m.norm_out = register_module("norm_out", std::make_shared<GroupNorm>(cfg.groups, ch));
    m.conv_out = register_module("conv_out", conv(ch, cfg.in_channels, 3, 1, 1, gen));
    m.conv_out->weight().fill_(0.f);
    m.conv_out->bias().fill_(0.f);
}

Tensor UNet::forward(const Tensor& x, const Tensor& t) {
    if (cfg_.num_classes == 0) return forward(x, t, {});
    return forward(x, t, std::vector<int64_t>(x.size(0), cfg_.num_classes));
}

Tensor UNet::forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels) {
    RFLOW_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels && x.size(2) == cfg_.image_size && x.size(3) == cfg_.image_size,
                "UNet expects x [N, " << cfg_.in_channels << ", " << cfg_.image_size << ", " << cfg_.image_size << "], got "
                                      << shape_str(x.shape()));
    RFLOW_CHECK(t.numel() == x.size(0), "UNet: one time per image expected, got t " << shape_str(t.shape()));
    Impl& m = *impl_;
    Tensor emb = m.time2->forward(silu(m.time1->forward(m.time_embed->forward(t.reshape({x.size(0)})))));
    if (m.label_embed) {
        RFLOW_CHECK(static_cast<int64_t>(labels.size()) == x.size(0),
                    "UNet: " << labels.size() << " labels for " << x.size(0) << " images");
        emb = add(emb, m.label_embed->forward(labels));
    }
    Tensor h = m.conv_in->forward(x);
    std::vector<Tensor> skips{h};
    for (Impl::Step& s : m.down) {
        if (s.resample) {
            h = s.resample->forward(h);
        } else {
            h = s.res->forward(h, emb);
            if (s.attn) h = s.attn->forward(h);
        }
        skips.push_back(h);
    }
    h = m.mid2->forward(m.mid_attn->forward(m.mid1->forward(h, emb)), emb);
    for (Impl::Step& s : m.up) {
        if (s.resample) {
            h = s.resample->forward(upsample_nearest2d(h, 2));
        } else {
            h = s.res->forward(concat({h, skips.back()}, 1), emb);
            skips.pop_back();
            if (s.attn) h = s.attn->forward(h);
        }
    }
    return m.conv_out->forward(m.norm_out->forward_silu(h));
}

}  // namespace rflow::nn
