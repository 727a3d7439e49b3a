// Multi-head latent attention (DeepSeek-V2, SPEC 4.b parts 1-3), naive and absorbed forms.
//
//   c   = RMSNorm(src W_dkv)                       [N, S, d_c]   (the only thing cached, with k_r)
//   k_r = RoPE(src W_kr)                           [N, 1, S, d_r] one RoPE key shared by all heads
//   c'  = RMSNorm(x W_dq)  (or x when q_latent = 0)
//   q_s = [c' W_uq^(s), RoPE(c' W_qr^(s))],  k_s = [c W_uk^(s), k_r],  v_s = c W_uv^(s)
// naive:    o_s = softmax(scale q_s k_s^T) v_s                   (MHA with head widths d_k + d_r, d_k)
// absorbed: q~_s = [c' W_uq^(s) W_uk^(s)T, q_r,s],  k~ = [c, k_r] (shared), so
//           o_s = softmax(scale q~_s k~^T) c W_uv^(s)T            (MQA with head widths d_c + d_r, d_c)
// with scale 1/sqrt(d_k + d_r) in both forms (the policy's scale for width d_k + d_r). In Linear's
// [out, in] layout W_uk^(s) is rows s d_k ... of uk.weight, so q_c k_c^T = q_c (W_s c^T) = (q_c W_s) c^T.
// The absorbed form reads uk/uv weights directly: merge LoRA adapters on them before decoding.
#include <cmath>

#include "attention_variants.hpp"
#include "rflow/attention_ops.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn::detail {

LatentAttention::LatentAttention(const AttentionConfig& cfg, Generator& gen) : Attention(resolved(cfg)) {
    const AttentionConfig& c = cfg_;
    const int64_t src = c.context_dim > 0 ? c.context_dim : c.dim, h = c.heads;
    dkv_ = register_module("dkv", std::make_shared<Linear>(src, c.kv_latent, gen, false));
    if (c.latent_norm) kv_norm_ = register_module("kv_norm", std::make_shared<RMSNorm>(c.kv_latent));
    uk_ = register_module("uk", std::make_shared<Linear>(c.kv_latent, h * c.head_dim, gen, false));
    uv_ = register_module("uv", std::make_shared<Linear>(c.kv_latent, h * c.head_dim, gen, false));
    if (c.rope_dim > 0) kr_ = register_module("kr", std::make_shared<Linear>(src, c.rope_dim, gen, false));
    int64_t qin = c.dim;
    if (c.q_latent > 0) {
        dq_ = register_module("dq", std::make_shared<Linear>(c.dim, c.q_latent, gen, false));
        if (c.latent_norm) q_norm_ = register_module("q_norm", std::make_shared<RMSNorm>(c.q_latent));
        qin = c.q_latent;
    }
    uq_ = register_module("uq", std::make_shared<Linear>(qin, h * c.head_dim, gen, false));
    if (c.rope_dim > 0) qr_ = register_module("qr", std::make_shared<Linear>(qin, h * c.rope_dim, gen, false));
    out_ = register_module("out", std::make_shared<Linear>(h * c.head_dim, c.dim, gen));
}

LatentAttention::Keys LatentAttention::keys(const Tensor& src, int64_t first, bool rotate) const {
    Keys k;
    k.c = dkv_->forward(src);
    if (kv_norm_) k.c = kv_norm_->forward(k.c);
    if (kr_) {
        k.kr = kr_->forward(src).reshape({src.size(0), 1, src.size(1), cfg_.rope_dim});
        if (rotate) k.kr = apply_rope(cfg_, k.kr, first);
    }
    return k;
}

LatentAttention::Queries LatentAttention::queries(const Tensor& x, int64_t first, bool rotate) const {
    Tensor cq = x;
    if (dq_) {
        cq = dq_->forward(x);
        if (q_norm_) cq = q_norm_->forward(cq);
    }
    Queries q;
    q.qc = split_heads(uq_->forward(cq), cfg_.heads, cfg_.head_dim);
    if (qr_) {
        q.qr = split_heads(qr_->forward(cq), cfg_.heads, cfg_.rope_dim);
        if (rotate) q.qr = apply_rope(cfg_, q.qr, first);
    }
    return q;
}

Tensor LatentAttention::naive(const Queries& q, const Keys& k, bool causal) const {
    const int64_t n = k.c.size(0), s = k.c.size(1), h = cfg_.heads;
    Tensor kc = split_heads(uk_->forward(k.c), h, cfg_.head_dim);  // [N, h, S, d_k]
    const Tensor v = split_heads(uv_->forward(k.c), h, cfg_.head_dim);
    Tensor qq = q.qc;
    if (kr_) {
        qq = concat({q.qc, q.qr}, -1);
        kc = concat({kc, k.kr.expand({n, h, s, cfg_.rope_dim})}, -1);
    }
    return merge_heads(scaled_dot_product_attention(qq, kc, v, softmax_scale(s), causal));
}

Tensor LatentAttention::absorbed(const Queries& q, const Keys& k, bool causal) const {
    const int64_t n = q.qc.size(0), l = q.qc.size(2), s = k.c.size(1), h = cfg_.heads, dk = cfg_.head_dim,
                  dc = cfg_.kv_latent;
    // q~_c = q_c W_uk^(s): [h, N L, d_k] @ [h, d_k, d_c]
    const Tensor w_uk = uk_->weight().reshape({h, dk, dc});
    const Tensor qc = q.qc.permute({1, 0, 2, 3}).reshape({h, n * l, dk});
    Tensor qt = matmul(qc, w_uk).reshape({h, n, l, dc}).permute({1, 0, 2, 3});  // [N, h, L, d_c]
    const Tensor c = k.c.reshape({n, 1, s, dc});
    Tensor kt = c;
    if (kr_) {
        qt = concat({qt, q.qr}, -1);
        kt = concat({c, k.kr}, -1);
    }
    const Tensor o_lat = scaled_dot_product_attention(qt, kt, c, softmax_scale(s), causal);  // [N, h, L, d_c]
    // o_s = o_lat,s W_uv^(s)T: [h, N L, d_c] @ [h, d_c, d_v]
    const Tensor w_uv = uv_->weight().reshape({h, dk, dc}).transpose(1, 2);
    const Tensor o = matmul(o_lat.permute({1, 0, 2, 3}).reshape({h, n * l, dc}), w_uv);  // [h, N L, d_v]
    return o.reshape({h, n, l, dk}).permute({1, 2, 0, 3}).reshape({n, l, h * dk});
}

Tensor LatentAttention::forward(const Tensor& x, const Tensor& context) {
    RFLOW_CHECK(x.dim() == 3 && x.size(2) == cfg_.dim,
                "attention: input must be [N, L, " << cfg_.dim << "], got " << shape_str(x.shape()));
    const bool cross = cfg_.context_dim > 0;
    RFLOW_CHECK(cross == context.defined(), "attention: this layer was built for "
                                                << (cross ? "cross-attention: pass a context" : "self-attention"));
    if (cross)
        RFLOW_CHECK(context.dim() == 3 && context.size(2) == cfg_.context_dim && context.size(0) == x.size(0),
                    "attention: context must be [" << x.size(0) << ", S, " << cfg_.context_dim << "], got "
                                                   << shape_str(context.shape()));
    const bool rotate = !cross && cfg_.rope != "none";  // no shared positions across two sequences
    const Keys k = keys(cross ? context : x, 0, rotate);
    const Queries q = queries(x, 0, rotate);
    return out_->forward(cfg_.absorbed ? absorbed(q, k, cfg_.causal) : naive(q, k, cfg_.causal));
}

Tensor LatentAttention::forward_cached(const Tensor& x, KVCache& cache) {
    RFLOW_CHECK(cfg_.causal && cfg_.context_dim == 0, "attention: forward_cached needs a causal self-attention layer");
    RFLOW_CHECK(cfg_.rope != "2d" || cfg_.grid_width > 0, "attention: cached 2d RoPE needs grid_width");
    RFLOW_CHECK(x.dim() == 3 && x.size(2) == cfg_.dim,
                "attention: input must be [N, L, " << cfg_.dim << "], got " << shape_str(x.shape()));
    const bool rotate = cfg_.rope != "none";
    const Keys fresh = keys(x, cache.length, rotate);
    const Queries q = queries(x, cache.length, rotate);
    append_part(cache, 0, fresh.c, 1);  // c: [N, T, d_c]
    if (kr_) append_part(cache, 1, fresh.kr.reshape({x.size(0), x.size(1), cfg_.rope_dim}), 1);  // [N, T, d_r]
    cache.length += x.size(1);
    Keys all;
    all.c = cache.parts[0];
    if (kr_) all.kr = cache.parts[1].reshape({x.size(0), 1, cache.length, cfg_.rope_dim});
    return out_->forward(absorbed(q, all, true));  // decode as an MQA over the cached latents
}

}  // namespace rflow::nn::detail
