// CPU scaled dot-product attention with grouped heads, in tiles with an online softmax
// (FlashAttention's schedule on Eigen blocks), so no L x L matrix is ever stored.
//
// Forward, per (batch, head, query tile Q) over key tiles K_j, V_j:
//   S = scale Q K_j^T (masked: key position > query position -> -inf)
//   m' = max(m, rowmax S),  P = e^{S - m'},  l = l e^{m - m'} + rowsum P,  A = A e^{m - m'} + P V_j
//   out = A / l,  lse = m + log l   (the row log-sum-exp, kept for the backward)
// Backward, with D_i = sum_d dO_id O_id and each tile recomputed as P = e^{S - lse}:
//   dV_j += P^T dO,  dP = dO V_j^T,  dS = P o (dP - D),  dQ += scale dS K_j,  dK_j += scale dS^T Q
// The forward runs in parallel over (batch, head, query tile); the backward over (batch, group),
// which owns its keys' dK/dV and its heads' dQ, so no two threads write the same memory.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "../backend.hpp"
#include "../core/tensor_impl.hpp"
#include "parallel.hpp"

namespace rflow::cpu {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat>;
using Map = Eigen::Map<RowMat>;
using Vec = Eigen::Array<float, Eigen::Dynamic, 1>;

constexpr int64_t kTile = 64;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Dims {
    int64_t b, h, g, lq, lk, dk, dv;
    int64_t offset() const { return lk - lq; }  // absolute position of query row 0
};

Dims dims_of(const Tensor& q, const Tensor& k, const Tensor& v) {
    return {q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
}

/// Sets s(i, j) = -inf where key k0 + j lies after query q0 + i's absolute position.
template <class Block>
void mask_causal(Block&& s, int64_t q_abs0, int64_t k0) {
    for (int64_t i = 0; i < s.rows(); ++i) {
        const int64_t first_hidden = q_abs0 + i + 1 - k0;  // local index of the first masked key
        for (int64_t j = std::max<int64_t>(first_hidden, 0); j < s.cols(); ++j) s(i, j) = kNegInf;
    }
}

}  // namespace

void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse, float scale,
               bool causal) {
    const Dims d = dims_of(q, k, v);
    const int64_t qtiles = (d.lq + kTile - 1) / kTile;
    const float* qp = q.data();
    const float* kp = k.data();
    const float* vp = v.data();
    float* op = out.data();
    float* lp = lse.data();
    parallel_for(d.b * d.h * qtiles, 1, [&](int64_t begin, int64_t end) {
        RowMat s(kTile, kTile), acc(kTile, d.dv);
        Vec m(kTile), l(kTile), m_new(kTile), alpha(kTile);
        for (int64_t item = begin; item < end; ++item) {
            const int64_t bh = item / qtiles, q0 = (item % qtiles) * kTile, nq = std::min(kTile, d.lq - q0);
            const int64_t b = bh / d.h, grp = (bh % d.h) * d.g / d.h;
            const CMap Q(qp + (bh * d.lq + q0) * d.dk, nq, d.dk);
            const float* kg = kp + (b * d.g + grp) * d.lk * d.dk;
            const float* vg = vp + (b * d.g + grp) * d.lk * d.dv;
            const int64_t q_abs0 = d.offset() + q0;
            const int64_t kend = causal ? std::min(d.lk, q_abs0 + nq) : d.lk;
            m.head(nq).setConstant(kNegInf);
            l.head(nq).setZero();
            acc.topRows(nq).setZero();
            for (int64_t k0 = 0; k0 < kend; k0 += kTile) {
                const int64_t nk = std::min(kTile, kend - k0);
                auto st = s.topLeftCorner(nq, nk);
                st.noalias() = scale * Q * CMap(kg + k0 * d.dk, nk, d.dk).transpose();
                if (causal && k0 + nk - 1 > q_abs0) mask_causal(st, q_abs0, k0);
                m_new.head(nq) = m.head(nq).max(st.rowwise().maxCoeff().array());
                // rows that have seen no key yet have m = -inf: their old state is zero anyway
                alpha.head(nq) = (m.head(nq) - m_new.head(nq)).exp();
                for (int64_t i = 0; i < nq; ++i)
                    if (m(i) == kNegInf) alpha(i) = 0.f;
                st.array().colwise() -= m_new.head(nq);
                st = st.array().exp().matrix();
                l.head(nq) = l.head(nq) * alpha.head(nq) + st.rowwise().sum().array();
                acc.topRows(nq).array().colwise() *= alpha.head(nq);
                acc.topRows(nq).noalias() += st * CMap(vg + k0 * d.dv, nk, d.dv);
                m.head(nq) = m_new.head(nq);
            }
            Map O(op + (bh * d.lq + q0) * d.dv, nq, d.dv);
            O = (acc.topRows(nq).array().colwise() / l.head(nq)).matrix();
            Eigen::Map<Vec>(lp + bh * d.lq + q0, nq) = m.head(nq) + l.head(nq).log();
        }
    });
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv, float scale, bool causal) {
    const Dims d = dims_of(q, k, v);
    const int64_t heads_per_group = d.h / d.g;
    parallel_for(d.b * d.g, 1, [&](int64_t begin, int64_t end) {
        RowMat s(kTile, kTile), dp(kTile, kTile), dq_acc(kTile, d.dk);
        Vec delta(kTile);
        for (int64_t bg = begin; bg < end; ++bg) {
            const int64_t b = bg / d.g, grp = bg % d.g;
            const CMap K(k.data() + bg * d.lk * d.dk, d.lk, d.dk);
            const CMap V(v.data() + bg * d.lk * d.dv, d.lk, d.dv);
            Map dK(dk.data() + bg * d.lk * d.dk, d.lk, d.dk);
            Map dV(dv.data() + bg * d.lk * d.dv, d.lk, d.dv);
            dK.setZero();
            dV.setZero();
            for (int64_t r = 0; r < heads_per_group; ++r) {
                const int64_t bh = b * d.h + grp * heads_per_group + r;
                for (int64_t q0 = 0; q0 < d.lq; q0 += kTile) {
                    const int64_t nq = std::min(kTile, d.lq - q0), row0 = bh * d.lq + q0;
                    const CMap Q(q.data() + row0 * d.dk, nq, d.dk);
                    const CMap O(out.data() + row0 * d.dv, nq, d.dv);
                    const CMap dO(dout.data() + row0 * d.dv, nq, d.dv);
                    const Eigen::Map<const Vec> L(lse.data() + row0, nq);
                    delta.head(nq) = (dO.array() * O.array()).rowwise().sum();
                    const int64_t q_abs0 = d.offset() + q0;
                    const int64_t kend = causal ? std::min(d.lk, q_abs0 + nq) : d.lk;
                    dq_acc.topRows(nq).setZero();
                    for (int64_t k0 = 0; k0 < kend; k0 += kTile) {
                        const int64_t nk = std::min(kTile, kend - k0);
                        auto st = s.topLeftCorner(nq, nk);
                        auto dpt = dp.topLeftCorner(nq, nk);
                        st.noalias() = scale * Q * K.middleRows(k0, nk).transpose();
                        if (causal && k0 + nk - 1 > q_abs0) mask_causal(st, q_abs0, k0);
                        st.array().colwise() -= L;
                        st = st.array().exp().matrix();  // P
                        dV.middleRows(k0, nk).noalias() += st.transpose() * dO;
                        dpt.noalias() = dO * V.middleRows(k0, nk).transpose();
                        dpt.array().colwise() -= delta.head(nq);
                        dpt.array() *= st.array();  // dS
                        dq_acc.topRows(nq).noalias() += dpt * K.middleRows(k0, nk);
                        dK.middleRows(k0, nk).noalias() += dpt.transpose() * Q;
                    }
                    Map(dq.data() + row0 * d.dk, nq, d.dk) = scale * dq_acc.topRows(nq);
                }
            }
            dK *= scale;
        }
    });
}

}  // namespace rflow::cpu
