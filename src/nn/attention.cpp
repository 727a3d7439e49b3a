// The attention layer's shared part: config checks, the scale policy, the KV cache, the registry of
// variants, helpers, and grouped-query attention (MHA, GQA, MQA). Latent attention is in mla.cpp.
#include "rflow/nn/attention.hpp"

#include <cmath>
#include <functional>
#include <map>

#include "attention_variants.hpp"
#include "rflow/attention_ops.hpp"
#include "rflow/error.hpp"
#include "rflow/nn/attention_scale.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

int64_t KVCache::floats_per_token() const {
    int64_t n = 0;
    for (const Tensor& p : parts)
        if (p.defined() && length > 0) n += p.numel() / (p.size(0) * length);
    return n;
}

AttentionConfig resolved(AttentionConfig c) {
    const std::string& k = c.kind;
    RFLOW_CHECK(k == "mha" || k == "mqa" || k == "gqa" || k == "mla",
                "attention: unknown kind '" << k << "' (mha, mqa, gqa, mla)");
    RFLOW_CHECK(c.dim > 0 && c.heads > 0, "attention: dim (" << c.dim << ") and heads (" << c.heads
                                                              << ") must be positive");
    if (c.head_dim == 0) {
        RFLOW_CHECK(c.dim % c.heads == 0, "attention: dim " << c.dim << " is not divisible by " << c.heads
                                                            << " heads (or set head_dim)");
        c.head_dim = c.dim / c.heads;
    }
    RFLOW_CHECK(c.head_dim > 0, "attention: head_dim must be positive, got " << c.head_dim);
    if (k == "mha") {
        RFLOW_CHECK(c.kv_heads == 0 || c.kv_heads == c.heads,
                    "attention: mha has kv_heads = heads (" << c.heads << "), got " << c.kv_heads << "; use gqa");
        c.kv_heads = c.heads;
    } else if (k == "mqa") {
        RFLOW_CHECK(c.kv_heads == 0 || c.kv_heads == 1, "attention: mqa has one key/value head, got kv_heads = "
                                                            << c.kv_heads << "; use gqa");
        c.kv_heads = 1;
    } else if (k == "gqa") {
        RFLOW_CHECK(c.kv_heads > 0 && c.heads % c.kv_heads == 0,
                    "attention: gqa needs kv_heads dividing heads (" << c.heads << "), got " << c.kv_heads);
    } else {
        RFLOW_CHECK(c.kv_heads == 0, "attention: kv_heads is not an mla setting (mla caches the latent instead)");
        RFLOW_CHECK(c.kv_latent > 0, "attention: mla needs kv_latent (d_c) > 0");
        RFLOW_CHECK(c.q_latent >= 0 && c.rope_dim >= 0, "attention: q_latent and rope_dim must be >= 0");
    }
    if (k != "mla")
        RFLOW_CHECK(c.kv_latent == 0 && c.q_latent == 0 && c.rope_dim == 0 && !c.absorbed,
                    "attention: kv_latent, q_latent, rope_dim and absorbed are mla settings (kind is " << k << ")");
    RFLOW_CHECK(c.rope == "none" || c.rope == "1d" || c.rope == "2d",
                "attention: unknown rope '" << c.rope << "' (none, 1d, 2d)");
    const int64_t rope_width = k == "mla" ? c.rope_dim : c.head_dim;
    if (k == "mla")
        RFLOW_CHECK((c.rope == "none") == (c.rope_dim == 0),
                    "attention: mla's decoupled RoPE needs both rope (1d/2d) and rope_dim > 0, got rope = "
                        << c.rope << ", rope_dim = " << c.rope_dim);
    if (c.rope != "none")
        RFLOW_CHECK(rope_width % (c.rope == "2d" ? 4 : 2) == 0,
                    "attention: " << c.rope << " RoPE needs its width (" << rope_width << ") divisible by "
                                  << (c.rope == "2d" ? 4 : 2));
    RFLOW_CHECK(c.context_dim >= 0, "attention: context_dim must be >= 0");
    RFLOW_CHECK(!(c.causal && c.context_dim > 0), "attention: the causal mask is for self-attention only");
    const ScalePolicy policy = scale_policy(c.scale);  // throws on unknown names
    RFLOW_CHECK(!(k == "mla" && normalises_qk(policy)),
                "attention: the cosine scale normalises each head's key, which mla's shared latent key cannot "
                "absorb; use default, gradmax or logn");
    RFLOW_CHECK(!(c.causal && policy != ScalePolicy::standard && c.max_len <= 1),
                "attention: scale '" << c.scale << "' with a causal mask needs max_len (n = max_len / 2)");
    return c;
}

float Attention::softmax_scale(int64_t n_keys) const {
    const ScalePolicy p = scale_policy(cfg_.scale);
    const double n = (cfg_.causal && p != ScalePolicy::standard) ? cfg_.max_len / 2.0 : static_cast<double>(n_keys);
    return static_cast<float>(attention_scale(p, n, qk_dim()));
}

namespace {

using Factory = std::function<std::unique_ptr<Attention>(const AttentionConfig&, Generator&)>;

const std::map<std::string, Factory>& registry() {
    static const std::map<std::string, Factory> r = [] {
        const Factory gqa = [](const AttentionConfig& c, Generator& g) -> std::unique_ptr<Attention> {
            return std::make_unique<detail::GroupedQueryAttention>(c, g);
        };
        return std::map<std::string, Factory>{
            {"mha", gqa}, {"mqa", gqa}, {"gqa", gqa},
            {"mla", [](const AttentionConfig& c, Generator& g) -> std::unique_ptr<Attention> {
                 return std::make_unique<detail::LatentAttention>(c, g);
             }}};
    }();
    return r;
}

}  // namespace

std::unique_ptr<Attention> make_attention(const AttentionConfig& cfg, Generator& gen) {
    const AttentionConfig c = resolved(cfg);
    return registry().at(c.kind)(c, gen);
}

std::vector<std::string> attention_kinds() {
    std::vector<std::string> names;
    for (const auto& [name, f] : registry()) names.push_back(name);
    return names;
}

namespace detail {

Tensor split_heads(const Tensor& x, int64_t heads, int64_t d) {
    return x.reshape({x.size(0), x.size(1), heads, d}).permute({0, 2, 1, 3});
}

Tensor merge_heads(const Tensor& x) {
    return x.permute({0, 2, 1, 3}).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

Tensor apply_rope(const AttentionConfig& cfg, const Tensor& x, int64_t first) {
    const int64_t l = x.size(-2), width = x.size(-1);
    std::vector<int64_t> pos(static_cast<size_t>(l));
    for (int64_t i = 0; i < l; ++i) pos[static_cast<size_t>(i)] = first + i;
    Tensor c, s;
    if (cfg.rope == "1d") {
        rope_tables_1d(pos, width, cfg.rope_base, c, s);
    } else {
        int64_t grid = cfg.grid_width;
        if (grid == 0) {  // a square grid of patches
            grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(first + l))));
            RFLOW_CHECK(grid * grid == first + l, "attention: 2d RoPE over " << first + l
                                                                            << " tokens needs grid_width (not a square)");
        }
        rope_tables_2d(pos, grid, width, cfg.rope_base, c, s);
    }
    return rope(x, c, s);
}

Tensor l2_normalise(const Tensor& x) { return mul(x, rsqrt(add(sum(square(x), {-1}, true), 1e-12f))); }

void append_part(KVCache& cache, size_t i, const Tensor& t, int64_t dim) {
    if (cache.parts.size() <= i) cache.parts.resize(i + 1);
    Tensor& p = cache.parts[i];
    p = p.defined() ? concat({p, t}, dim) : t.contiguous();
}

namespace {

void check_tokens(const Tensor& x, int64_t width, const char* what) {
    RFLOW_CHECK(x.dim() == 3 && x.size(2) == width,
                "attention: " << what << " must be [N, L, " << width << "], got " << shape_str(x.shape()));
}

}  // namespace

GroupedQueryAttention::GroupedQueryAttention(const AttentionConfig& cfg, Generator& gen) : Attention(resolved(cfg)) {
    const int64_t hd = cfg_.heads * cfg_.head_dim, gd = cfg_.kv_heads * cfg_.head_dim;
    if (cfg_.context_dim == 0) {
        qkv_ = register_module("qkv", std::make_shared<Linear>(cfg_.dim, hd + 2 * gd, gen));
    } else {
        q_ = register_module("q", std::make_shared<Linear>(cfg_.dim, hd, gen));
        kv_ = register_module("kv", std::make_shared<Linear>(cfg_.context_dim, 2 * gd, gen));
    }
    out_ = register_module("out", std::make_shared<Linear>(hd, cfg_.dim, gen));
}

void GroupedQueryAttention::project(const Tensor& x, const Tensor& context, Tensor& q, Tensor& k, Tensor& v) const {
    const int64_t h = cfg_.heads, g = cfg_.kv_heads, d = cfg_.head_dim;
    if (qkv_) {
        RFLOW_CHECK(!context.defined(), "attention: this layer was built for self-attention (context_dim = 0)");
        const std::vector<Tensor> p = split(qkv_->forward(x), {h * d, g * d, g * d}, -1);
        q = split_heads(p[0], h, d), k = split_heads(p[1], g, d), v = split_heads(p[2], g, d);
        return;
    }
    RFLOW_CHECK(context.defined(), "attention: this layer was built for cross-attention: pass a context");
    check_tokens(context, cfg_.context_dim, "context");
    RFLOW_CHECK(context.size(0) == x.size(0), "attention: context batch " << context.size(0) << " != " << x.size(0));
    q = split_heads(q_->forward(x), h, d);
    const std::vector<Tensor> p = split(kv_->forward(context), {g * d, g * d}, -1);
    k = split_heads(p[0], g, d), v = split_heads(p[1], g, d);
}

Tensor GroupedQueryAttention::forward(const Tensor& x, const Tensor& context) {
    check_tokens(x, cfg_.dim, "input");
    Tensor q, k, v;
    project(x, context, q, k, v);
    if (cfg_.rope != "none" && !context.defined()) q = apply_rope(cfg_, q, 0), k = apply_rope(cfg_, k, 0);
    if (normalises_qk(scale_policy(cfg_.scale))) q = l2_normalise(q), k = l2_normalise(k);
    const Tensor o = scaled_dot_product_attention(q, k, v, softmax_scale(k.size(2)), cfg_.causal);
    return out_->forward(merge_heads(o));
}

Tensor GroupedQueryAttention::forward_cached(const Tensor& x, KVCache& cache) {
    RFLOW_CHECK(cfg_.causal && qkv_, "attention: forward_cached needs a causal self-attention layer");
    RFLOW_CHECK(cfg_.rope != "2d" || cfg_.grid_width > 0, "attention: cached 2d RoPE needs grid_width");
    check_tokens(x, cfg_.dim, "input");
    Tensor q, k, v;
    project(x, Tensor(), q, k, v);
    if (cfg_.rope != "none") q = apply_rope(cfg_, q, cache.length), k = apply_rope(cfg_, k, cache.length);
    if (normalises_qk(scale_policy(cfg_.scale))) q = l2_normalise(q), k = l2_normalise(k);
    append_part(cache, 0, k, 2);  // [N, g, T, d]
    append_part(cache, 1, v, 2);
    cache.length += x.size(1);
    const Tensor& ks = cache.parts[0];
    const Tensor o = scaled_dot_product_attention(q, ks, cache.parts[1], softmax_scale(ks.size(2)), true);
    return out_->forward(merge_heads(o));
}

}  // namespace detail

}  // namespace rflow::nn
