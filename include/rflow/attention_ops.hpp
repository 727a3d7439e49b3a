// Differentiable attention kernels: scaled dot-product attention with grouped heads, computed in
// tiles with an online softmax (memory O(L tile), not O(L^2)), its materialised reference, and
// rotary position embeddings.
#pragma once

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

/// o = softmax(scale q k^T + causal mask) v per head, with grouped keys/values:
///   q [B, H, Lq, Dk], k [B, G, Lk, Dk], v [B, G, Lk, Dv] -> [B, H, Lq, Dv], G divides H and head s
///   reads group s G / H (G = H: multi-head, G = 1: multi-query).
/// causal: query i sits at absolute position Lk - Lq + i and sees keys j <= Lk - Lq + i (so a query
/// block appended after cached keys is masked correctly).
/// Forward and backward run in tiles (online softmax; the backward recomputes each tile from the saved
/// row log-sum-exp), so neither stores an L x L matrix. The first-order backward is one fused pass;
/// under create_graph it is written with differentiable ops (materialised), for double backward.
RFLOW_API Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                                              bool causal = false);

/// The same attention with the score matrix materialised (matmul, mask, softmax, matmul): the
/// reference the tiled kernel is tested against.
RFLOW_API Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                                     bool causal = false);

/// Rotary embedding of x [..., L, D] (D even): the pair (x_i, x_{i + D/2}) at row l is rotated by
/// the angle theta[l, i], given as cos and sin tables [L, D/2] (no gradient flows into them).
///   y_i = x_i cos - x_{i+D/2} sin,  y_{i+D/2} = x_i sin + x_{i+D/2} cos.
RFLOW_API Tensor rope(const Tensor& x, const Tensor& cos_table, const Tensor& sin_table);

/// RoPE angle tables [L, D/2] for 1-D positions: theta[l, i] = pos[l] base^{-2i/D}.
RFLOW_API void rope_tables_1d(const std::vector<int64_t>& positions, int64_t d, float base, Tensor& cos_table,
                              Tensor& sin_table);
/// 2-D axial RoPE for patch l at (row, col) = (pos[l] / width, pos[l] % width): the first D/4 angle
/// pairs rotate with the row, the next D/4 with the column (D divisible by 4), each with frequencies
/// base^{-4i/D}.
RFLOW_API void rope_tables_2d(const std::vector<int64_t>& positions, int64_t width, int64_t d, float base,
                              Tensor& cos_table, Tensor& sin_table);

}  // namespace rflow
