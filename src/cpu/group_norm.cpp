// CPU group normalisation of x [N, C, *], forward and fused first-order backward, alone or
// followed by SiLU in the same pass (group_norm_silu: the pre-activation is never stored; its
// backward recomputes it per block from x and the statistics and applies silu' on the way in).
//
// The Cg = C / G channels of group g of sample n form one contiguous block of L = Cg S values
// (S = spatial size); with mu, r = (var + eps)^-1/2 of the block and xhat = (x - mu) r:
//   forward   y = xhat w[c] + b[c] = x (r w[c]) + (b[c] - mu r w[c])
//   backward  with gw = g w[c] and block sums S1 = sum gw, S2 = sum gw xhat,
//             dx = r (gw - S1 / L - xhat S2 / L) = g (r w[c]) + x (-r^2 S2 / L) + r (mu r S2 - S1) / L
//             dw[c] = sum_{n, s} g xhat,  db[c] = sum_{n, s} g
// Blocks run in parallel; dw and db are summed over n in a fixed order (thread-count independent).
#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "../backend.hpp"
#include "../core/tensor_impl.hpp"
#include "parallel.hpp"

namespace rflow::cpu {

namespace {

using ArrF = Eigen::Array<float, Eigen::Dynamic, 1>;
using CMap = Eigen::Map<const ArrF>;
using MMap = Eigen::Map<ArrF>;

struct Layout {
    int64_t N, C, S, G, Cg, L;
};

Layout layout_of(const Tensor& x, int64_t groups) {
    Layout l{};
    l.N = x.size(0), l.C = x.size(1);
    l.S = l.N * l.C != 0 ? x.numel() / (l.N * l.C) : 0;
    l.G = groups, l.Cg = l.C / groups, l.L = l.Cg * l.S;
    return l;
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

int64_t block_grain(const Layout& l) { return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(l.L, 1)); }


// silu(y) = y / (1 + e^-y) and silu'(y) = s (1 + y (1 - s)) with s = 1 / (1 + e^-y), on arrays
template <class A>
auto silu_of(const A& y) {
    return y / (1.f + (-y).exp());
}
template <class A>
auto silu_slope(const A& y, ArrF& s) {
    s = 1.f / (1.f + (-y).exp());
    return s * (1.f + y * (1.f - s));
}

template <bool Silu>
void group_norm_impl(const Tensor& x_in, const Tensor& weight, const Tensor& bias, Tensor& out, Tensor& mean,
                     Tensor& rstd, int64_t groups, float eps) {
    const Tensor x = x_in.contiguous();
    const Tensor w = weight.defined() ? weight.contiguous() : Tensor();
    const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
    const Layout l = layout_of(x, groups);
    const float *px = x.data(), *pw = data_or_null(w), *pb = data_or_null(b);
    float *po = out.data(), *pm = mean.data(), *pr = rstd.data();
    parallel_for(l.N * l.G, block_grain(l), [&](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk) {
            CMap xb(px + blk * l.L, l.L);
            const float mu = l.L ? xb.mean() : 0.f;
            const float var = l.L ? (xb - mu).square().mean() : 0.f;
            const float r = 1.f / std::sqrt(var + eps);
            pm[blk] = mu, pr[blk] = r;
            const int64_t c0 = (blk % l.G) * l.Cg;
            for (int64_t c = 0; c < l.Cg; ++c) {
                const float scale = r * (pw ? pw[c0 + c] : 1.f);
                const float shift = (pb ? pb[c0 + c] : 0.f) - mu * scale;
                const int64_t at = blk * l.L + c * l.S;
                if constexpr (Silu) MMap(po + at, l.S) = silu_of(CMap(px + at, l.S) * scale + shift);
                else MMap(po + at, l.S) = CMap(px + at, l.S) * scale + shift;
            }
        }
    });
}

template <bool Silu>
void group_norm_backward_impl(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                              const Tensor& rstd, const Tensor& grad, Tensor& dx, Tensor& dweight, Tensor& dbias,
                              int64_t groups) {
    const Tensor x = x_in.contiguous(), g = grad.contiguous();
    const Tensor w = weight.defined() ? weight.contiguous() : Tensor();
    const Tensor b = Silu && bias.defined() ? bias.contiguous() : Tensor();
    const Layout l = layout_of(x, groups);
    const float *px = x.data(), *pw = data_or_null(w), *pb = data_or_null(b), *pm = mean.data(), *pr = rstd.data();
    float* pdx = dx.defined() ? dx.data() : nullptr;
    // per (n, c): sum_s g and sum_s g xhat
    std::vector<float> sg(l.N * l.C), sgh(l.N * l.C);
    parallel_for(l.N * l.G, block_grain(l), [&](int64_t b0, int64_t b1) {
        // With Silu, the gradient reaching the norm's output y, g silu'(y), y = x scale + shift
        // recomputed from the saved statistics; one block's worth at a time.
        ArrF gy(Silu ? l.L : 0), sig(Silu ? l.S : 0);
        for (int64_t blk = b0; blk < b1; ++blk) {
            const float mu = pm[blk], r = pr[blk];
            const int64_t c0 = (blk % l.G) * l.Cg, nc0 = blk * l.Cg;  // n C + c0
            const float* pg = g.data() + blk * l.L;  // this block's gradient at the norm's output
            if constexpr (Silu) {
                for (int64_t c = 0; c < l.Cg; ++c) {
                    const float scale = r * (pw ? pw[c0 + c] : 1.f);
                    const float shift = (pb ? pb[c0 + c] : 0.f) - mu * scale;
                    const int64_t at = blk * l.L + c * l.S;
                    gy.segment(c * l.S, l.S) = CMap(g.data() + at, l.S) * silu_slope(CMap(px + at, l.S) * scale + shift, sig);
                }
                pg = gy.data();
            }
            float s1 = 0.f, s2 = 0.f;
            for (int64_t c = 0; c < l.Cg; ++c) {
                const int64_t at = blk * l.L + c * l.S;
                CMap gc(pg + c * l.S, l.S), xc(px + at, l.S);
                sg[nc0 + c] = gc.sum();
                sgh[nc0 + c] = r * (gc * (xc - mu)).sum();
                const float wc = pw ? pw[c0 + c] : 1.f;
                s1 += wc * sg[nc0 + c];
                s2 += wc * sgh[nc0 + c];
            }
            if (!pdx) continue;
            const float inv_l = 1.f / static_cast<float>(l.L);
            const float bx = -r * r * s2 * inv_l, cst = r * (mu * r * s2 - s1) * inv_l;
            for (int64_t c = 0; c < l.Cg; ++c) {
                const int64_t at = blk * l.L + c * l.S;
                const float ag = r * (pw ? pw[c0 + c] : 1.f);
                MMap(pdx + at, l.S) = CMap(pg + c * l.S, l.S) * ag + CMap(px + at, l.S) * bx + cst;
            }
        }
    });
    for (auto [out, src] : {std::pair<Tensor*, const std::vector<float>*>{&dweight, &sgh}, {&dbias, &sg}}) {
        if (!out->defined()) continue;
        float* po = out->data();
        for (int64_t c = 0; c < l.C; ++c) {
            float acc = 0.f;
            for (int64_t n = 0; n < l.N; ++n) acc += (*src)[n * l.C + c];
            po[c] = acc;
        }
    }
}

}  // namespace

void group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out, Tensor& mean, Tensor& rstd,
                int64_t groups, float eps) {
    group_norm_impl<false>(x, weight, bias, out, mean, rstd, groups, eps);
}
void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                         const Tensor& grad, Tensor& dx, Tensor& dweight, Tensor& dbias, int64_t groups) {
    group_norm_backward_impl<false>(x, weight, Tensor(), mean, rstd, grad, dx, dweight, dbias, groups);
}
void group_norm_silu(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out, Tensor& mean,
                     Tensor& rstd, int64_t groups, float eps) {
    group_norm_impl<true>(x, weight, bias, out, mean, rstd, groups, eps);
}
void group_norm_silu_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                              const Tensor& rstd, const Tensor& grad, Tensor& dx, Tensor& dweight, Tensor& dbias,
                              int64_t groups) {
    group_norm_backward_impl<true>(x, weight, bias, mean, rstd, grad, dx, dweight, dbias, groups);
}

}  // namespace rflow::cpu
