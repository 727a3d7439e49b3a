// Differentiable attention: the tiled scaled-dot-product kernel (backend), its materialised
// reference, and rotary position embeddings (composed from differentiable ops).
//
// Grouped heads: head s of H reads key/value group s G / H, so the H / G heads of a group are
// consecutive and q [B, H, Lq, D] viewed as [B, G, (H / G) Lq, D] puts each group's queries next to
// its keys: the reference and the differentiable backward are then plain batched matmuls.
#include <cmath>
#include <limits>

#include "op_util.hpp"
#include "rflow/attention_ops.hpp"
#include "rflow/ops.hpp"

namespace rflow {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

namespace {

struct AttnShape {
    int64_t b, h, g, lq, lk, dk, dv;
};

AttnShape check_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, const char* op) {
    RFLOW_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
                op << ": expects q [B, H, Lq, Dk], k [B, G, Lk, Dk], v [B, G, Lk, Dv], got "
                   << shape_str(q.shape()) << ", " << shape_str(k.shape()) << ", " << shape_str(v.shape()));
    const AttnShape s{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
    RFLOW_CHECK(k.size(0) == s.b && v.size(0) == s.b && v.size(1) == s.g && v.size(2) == s.lk && k.size(3) == s.dk,
                op << ": q " << shape_str(q.shape()) << ", k " << shape_str(k.shape()) << " and v "
                   << shape_str(v.shape()) << " do not fit together");
    RFLOW_CHECK(s.g >= 1 && s.h % s.g == 0, op << ": " << s.g << " key/value groups do not divide " << s.h << " heads");
    RFLOW_CHECK(s.lk >= 1, op << ": no keys");
    RFLOW_CHECK(!causal || s.lq <= s.lk, op << ": causal attention with more queries (" << s.lq << ") than keys ("
                                               << s.lk << ") would leave rows with nothing to attend to");
    detail::common_device(q, k, op);
    detail::common_device(q, v, op);
    return s;
}

/// Additive mask [(H / G) Lq, Lk]: -inf where key j lies after row r's query (position Lk - Lq + r % Lq).
Tensor causal_mask(const AttnShape& s, Device device) {
    const int64_t rows = (s.h / s.g) * s.lq;
    std::vector<float> m(static_cast<size_t>(rows * s.lk), 0.f);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = s.lk - s.lq + r % s.lq + 1; j < s.lk; ++j)
            m[static_cast<size_t>(r * s.lk + j)] = -std::numeric_limits<float>::infinity();
    return Tensor::from_vector(m, {rows, s.lk}, device);
}

/// softmax(scale q k^T + mask) in the grouped layout [B, G, (H / G) Lq, Lk].
Tensor grouped_probs(const Tensor& q, const Tensor& k, const AttnShape& s, float scale, bool causal) {
    const Tensor qg = q.reshape({s.b, s.g, (s.h / s.g) * s.lq, s.dk});
    Tensor scores = mul(matmul(qg, k.transpose(2, 3)), scale);
    if (causal) scores = add(scores, causal_mask(s, q.device()));
    return softmax(scores, -1);
}

}  // namespace

Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, float scale, bool causal) {
    const AttnShape s = check_attention(q, k, v, causal, "attention_reference");
    const Tensor p = grouped_probs(q, k, s, scale, causal);
    return matmul(p, v).reshape({s.b, s.h, s.lq, s.dv});
}

Tensor scaled_dot_product_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, float scale,
                                    bool causal) {
    const AttnShape s = check_attention(q_in, k_in, v_in, causal, "scaled_dot_product_attention");
    const Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const backend::Backend& be = backend::get(q.device());
    RFLOW_CHECK(be.attention && be.attention_backward,
                "scaled_dot_product_attention: the " << device_name(q.device()) << " backend has no attention kernel");
    Tensor out = make_tensor({s.b, s.h, s.lq, s.dv}, q.device());
    Tensor lse = make_tensor({s.b, s.h, s.lq}, q.device());
    be.attention(q, k, v, out, lse, scale, causal);
    detail::SavedOutput o;
    return o.set(record(out, "attention", {q, k, v}, [q, k, v, o, lse, s, scale, causal](const Tensor& g, const Needs&) {
        if (!grad_enabled()) {  // first order: one fused tiled pass
            const Tensor gc = g.contiguous();
            Tensor dq = make_tensor(q.shape(), q.device()), dk = make_tensor(k.shape(), k.device()),
                   dv = make_tensor(v.shape(), v.device());
            backend::get(q.device()).attention_backward(q, k, v, o.get(), lse, gc, dq, dk, dv, scale, causal);
            return Grads{dq, dk, dv};
        }
        // differentiable (create_graph), materialised: with P the probabilities and G = dL/dO,
        //   dV = P^T G,  dS = P o (G V^T - rowsum(P o G V^T)),  dQ = scale dS K,  dK = scale dS^T Q
        const Tensor p = grouped_probs(q, k, s, scale, causal);
        const Tensor gg = g.reshape({s.b, s.g, (s.h / s.g) * s.lq, s.dv});
        const Tensor dp = matmul(gg, v.transpose(2, 3));
        const Tensor ds = mul(p, sub(dp, sum(mul(dp, p), {-1}, true)));
        const Tensor qg = q.reshape({s.b, s.g, (s.h / s.g) * s.lq, s.dk});
        return Grads{mul(matmul(ds, k), scale).reshape(q.shape()), mul(matmul(ds.transpose(2, 3), qg), scale),
                     matmul(p.transpose(2, 3), gg)};
    }));
}

Tensor rope(const Tensor& x, const Tensor& cos_table, const Tensor& sin_table) {
    RFLOW_CHECK(x.dim() >= 2 && x.size(-1) % 2 == 0,
                "rope: expects [..., L, D] with D even, got " << shape_str(x.shape()));
    const int64_t l = x.size(-2), half = x.size(-1) / 2;
    RFLOW_CHECK(cos_table.shape() == (Shape{l, half}) && sin_table.shape() == (Shape{l, half}),
                "rope: tables must be [" << l << ", " << half << "], got " << shape_str(cos_table.shape()) << " and "
                                         << shape_str(sin_table.shape()));
    const std::vector<Tensor> parts = split(x, {half, half}, -1);
    const Tensor c = cos_table.detach().to(x.device()), sn = sin_table.detach().to(x.device());
    return concat({sub(mul(parts[0], c), mul(parts[1], sn)), add(mul(parts[0], sn), mul(parts[1], c))}, -1);
}

namespace {

void fill_tables(const std::vector<std::vector<double>>& angles, int64_t half, Tensor& cos_table, Tensor& sin_table) {
    const int64_t l = static_cast<int64_t>(angles.size());
    std::vector<float> c(static_cast<size_t>(l * half)), sn(c.size());
    for (int64_t r = 0; r < l; ++r)
        for (int64_t i = 0; i < half; ++i) {
            c[static_cast<size_t>(r * half + i)] = static_cast<float>(std::cos(angles[r][i]));
            sn[static_cast<size_t>(r * half + i)] = static_cast<float>(std::sin(angles[r][i]));
        }
    cos_table = Tensor::from_vector(c, {l, half});
    sin_table = Tensor::from_vector(sn, {l, half});
}

}  // namespace

void rope_tables_1d(const std::vector<int64_t>& positions, int64_t d, float base, Tensor& cos_table,
                    Tensor& sin_table) {
    RFLOW_CHECK(d > 0 && d % 2 == 0, "rope_tables_1d: width " << d << " must be even");
    const int64_t half = d / 2;
    std::vector<std::vector<double>> angles(positions.size(), std::vector<double>(static_cast<size_t>(half)));
    for (size_t r = 0; r < positions.size(); ++r)
        for (int64_t i = 0; i < half; ++i)  // theta = pos base^{-2i/D}
            angles[r][i] = static_cast<double>(positions[r]) * std::pow(static_cast<double>(base), -2.0 * i / d);
    fill_tables(angles, half, cos_table, sin_table);
}

void rope_tables_2d(const std::vector<int64_t>& positions, int64_t width, int64_t d, float base, Tensor& cos_table,
                    Tensor& sin_table) {
    RFLOW_CHECK(d > 0 && d % 4 == 0, "rope_tables_2d: width " << d << " must be divisible by 4");
    RFLOW_CHECK(width > 0, "rope_tables_2d: grid width must be positive");
    const int64_t half = d / 2, quarter = d / 4;
    std::vector<std::vector<double>> angles(positions.size(), std::vector<double>(static_cast<size_t>(half)));
    for (size_t r = 0; r < positions.size(); ++r) {
        const double row = static_cast<double>(positions[r] / width), col = static_cast<double>(positions[r] % width);
        for (int64_t i = 0; i < quarter; ++i) {  // theta = (row or col) base^{-4i/D}
            const double f = std::pow(static_cast<double>(base), -4.0 * i / d);
            angles[r][i] = row * f;
            angles[r][quarter + i] = col * f;
        }
    }
    fill_tables(angles, half, cos_table, sin_table);
}

}  // namespace rflow
