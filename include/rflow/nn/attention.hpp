// One attention layer, variants chosen by name (SPEC §4): multi-head (mha), multi-query (mqa),
// grouped-query (gqa) and multi-head latent attention (mla), self- or cross-attention, optional
// causal mask, RoPE (1-D for sequences, 2-D axial for image patches), a softmax-scale policy by
// name (SPEC §5, nn/attention_scale.hpp) and a KV cache for token-by-token decoding.
//
//   mha/mqa/gqa: q = x Wq (h heads of d_k), k, v = ctx Wk, ctx Wv (g groups; g = h for mha, 1 for
//                mqa), head s (0-based) reads group s g / h  (SPEC's ceil(s g / h), 1-based).
//   mla:         c = norm(ctx W_dkv) in R^{d_c} (cached), k_s = [c W_uk^(s), RoPE(ctx W_kr)] (the
//                RoPE key, d_r wide, is shared by all heads), v_s = c W_uv^(s); queries from
//                c' = norm(x W_dq) in R^{d'_c} (or x itself when q_latent = 0):
//                q_s = [c' W_uq^(s), RoPE(c' W_qr^(s))].  Scale 1/sqrt(d_k + d_r) in both forms.
//                The absorbed form (SPEC 4.b "decode") is an MQA over [c, RoPE(k_r)] with queries
//                [q_c,s W_uk^(s)T, q_r,s] and values c, followed by W_uv^(s) and W_o.
//
// Every variant computes softmax(scale q k^T) v with scaled_dot_product_attention (attention_ops.hpp):
// in tiles with an online softmax, so memory does not grow with L^2.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rflow/nn/linear.hpp"
#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

struct AttentionConfig {
    std::string kind = "mha";      ///< mha | mqa | gqa | mla (make_attention's registry)
    int64_t dim = 0;               ///< model width d (input and output)
    int64_t heads = 8;             ///< h
    int64_t kv_heads = 0;          ///< g for gqa (must divide heads); mha uses h, mqa 1
    int64_t head_dim = 0;          ///< d_k = d_v per head; 0 = dim / heads
    int64_t context_dim = 0;       ///< > 0: cross-attention, keys and values read a context this wide
    bool causal = false;           ///< query i sees keys j <= i (self-attention only)
    std::string rope = "none";     ///< none | 1d (sequence positions) | 2d (axial, patches of a grid)
    float rope_base = 10000.f;
    int64_t grid_width = 0;        ///< 2d RoPE: tokens are rows of this many patches (0 = square grid)
    // MLA only
    int64_t kv_latent = 0;         ///< d_c (required for mla)
    int64_t q_latent = 0;          ///< d'_c; 0 = queries straight from x
    int64_t rope_dim = 0;          ///< d_r decoupled RoPE dimensions (needs rope != none)
    bool latent_norm = true;       ///< RMSNorm on the latents c and c' (DeepSeek-V2)
    bool absorbed = false;         ///< forward in the absorbed (MQA) form instead of the naive one
    // softmax scale (nn/attention_scale.hpp)
    std::string scale = "default"; ///< default (1/sqrt d) | gradmax | cosine | logn
    int64_t max_len = 0;           ///< causal layers with a non-default scale use n = max_len / 2
};

/// Keys and values kept for autoregressive decoding, one per layer. The layer decides what it
/// stores (gqa: k and v [B, g, T, d_k]; mla: c [B, T, d_c] and the RoPE key [B, T, d_r]).
struct RFLOW_API KVCache {
    std::vector<Tensor> parts;
    int64_t length = 0;            ///< tokens cached so far
    /// Floats held per token per batch row (sum over parts of their per-token width).
    int64_t floats_per_token() const;
    void clear() { parts.clear(); length = 0; }
};

class RFLOW_API Attention : public Module {
public:
    explicit Attention(const AttentionConfig& cfg) : cfg_(cfg) {}
    /// Self-attention: x [N, L, dim] -> [N, L, dim].
    Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
    /// Cross-attention over context [N, S, context_dim] (undefined context = self-attention).
    virtual Tensor forward(const Tensor& x, const Tensor& context) = 0;
    /// Causal self-attention of the new tokens x [N, L, dim] at positions cache.length ...,
    /// appending their keys/values to `cache`; equals the rows of the full forward.
    virtual Tensor forward_cached(const Tensor& x, KVCache& cache) = 0;
    /// Floats this layer caches per token (mha 2 h d_k, gqa 2 g d_k, mqa 2 d_k, mla d_c + d_r).
    virtual int64_t cache_floats_per_token() const = 0;
    /// Width of one head's query-key dot product (d_k, or d_k + d_r for mla).
    virtual int64_t qk_dim() const = 0;
    /// The softmax scale for n_keys keys under the configured policy.
    float softmax_scale(int64_t n_keys) const;
    const AttentionConfig& config() const { return cfg_; }

protected:
    AttentionConfig cfg_;
};

/// Builds the layer named cfg.kind; errors name the bad field.
RFLOW_API std::unique_ptr<Attention> make_attention(const AttentionConfig& cfg, Generator& gen);
/// The registered kinds, for tests and --help.
RFLOW_API std::vector<std::string> attention_kinds();
/// The config with defaults filled in (head_dim, kv_heads by kind); errors on inconsistent fields.
RFLOW_API AttentionConfig resolved(AttentionConfig cfg);

}  // namespace rflow::nn
