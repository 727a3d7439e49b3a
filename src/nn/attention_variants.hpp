// The attention variants behind make_attention (private): grouped-query attention, which is MHA
// with g = h and MQA with g = 1, and multi-head latent attention in its naive and absorbed forms.
// Shared helpers (head views, RoPE tables for a run of positions, l2 normalisation) live here too.
#pragma once

#include <memory>
#include <vector>

#include "rflow/nn/attention.hpp"
#include "rflow/nn/norm.hpp"

namespace rflow::nn::detail {

/// [N, L, h d] -> [N, h, L, d]
Tensor split_heads(const Tensor& x, int64_t heads, int64_t d);
/// [N, h, L, d] -> [N, L, h d]
Tensor merge_heads(const Tensor& x);
/// RoPE of x [..., L, D] at positions first, first + 1, ... under cfg.rope (1d or 2d).
Tensor apply_rope(const AttentionConfig& cfg, const Tensor& x, int64_t first);
/// x / ||x|| over the last axis (the cosine scale policy).
Tensor l2_normalise(const Tensor& x);
/// Appends t along `dim` to cache.parts[i] (or starts it).
void append_part(KVCache& cache, size_t i, const Tensor& t, int64_t dim);

/// MHA (g = h), GQA (g | h) and MQA (g = 1): one fused q/k/v projection "qkv" for self-attention
/// ([q | k | v] columns of widths h d, g d, g d, the plain MHA layout when g = h), or "q" and "kv"
/// for cross-attention; output projection "out".
class GroupedQueryAttention : public Attention {
public:
    GroupedQueryAttention(const AttentionConfig& cfg, Generator& gen);
    Tensor forward(const Tensor& x, const Tensor& context) override;
    Tensor forward_cached(const Tensor& x, KVCache& cache) override;
    int64_t cache_floats_per_token() const override { return 2 * cfg_.kv_heads * cfg_.head_dim; }
    int64_t qk_dim() const override { return cfg_.head_dim; }

private:
    void project(const Tensor& x, const Tensor& context, Tensor& q, Tensor& k, Tensor& v) const;
    std::shared_ptr<Linear> qkv_, q_, kv_, out_;
};

/// Multi-head latent attention (SPEC 4.b parts 1-3): latent "dkv" (+ "kv_norm"), per-head up
/// projections "uk" and "uv", the shared RoPE key "kr", queries through "dq" (+ "q_norm") when
/// q_latent > 0, then "uq" and the per-head RoPE query "qr"; output "out". No biases in the
/// projections the absorbed form folds together.
class LatentAttention : public Attention {
public:
    LatentAttention(const AttentionConfig& cfg, Generator& gen);
    Tensor forward(const Tensor& x, const Tensor& context) override;
    Tensor forward_cached(const Tensor& x, KVCache& cache) override;
    int64_t cache_floats_per_token() const override { return cfg_.kv_latent + cfg_.rope_dim; }
    int64_t qk_dim() const override { return cfg_.head_dim + cfg_.rope_dim; }

private:
    struct Keys {
        Tensor c;   ///< [N, S, d_c] (normalised latent)
        Tensor kr;  ///< [N, 1, S, d_r] RoPE key shared by all heads (undefined when d_r = 0)
    };
    struct Queries {
        Tensor qc;  ///< [N, h, L, d_k]
        Tensor qr;  ///< [N, h, L, d_r]
    };
    Keys keys(const Tensor& src, int64_t first, bool rotate) const;
    Queries queries(const Tensor& x, int64_t first, bool rotate) const;
    Tensor naive(const Queries& q, const Keys& k, bool causal) const;
    Tensor absorbed(const Queries& q, const Keys& k, bool causal) const;
    std::shared_ptr<Linear> dkv_, uk_, uv_, kr_, dq_, uq_, qr_, out_;
    std::shared_ptr<RMSNorm> kv_norm_, q_norm_;
};

}  // namespace rflow::nn::detail
