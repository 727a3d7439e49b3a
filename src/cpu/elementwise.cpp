// CPU element-wise entries: unary functions, broadcast binary ops, where, fill, copy, random fills.
//
// Contiguous rows go through Eigen array expressions (vectorised exp/log/tanh/logistic for the
// machine's SIMD width); strided rows fall back to scalar loops over the same functors.
#include <unsupported/Eigen/SpecialFunctions>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "../backend.hpp"
#include "../core/tensor_impl.hpp"
#include "rflow/error.hpp"
#include "rflow/philox.hpp"
#include "parallel.hpp"
#include "strided_loop.hpp"

namespace rflow::cpu {

using Arr = Eigen::Array<float, Eigen::Dynamic, 1>;
using MapA = Eigen::Map<Arr>;
using CMapA = Eigen::Map<const Arr>;
using backend::Binary;
using backend::Unary;

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// y = f(x) on a contiguous block of n elements; y may alias x.
void unary_block(Unary op, const float* xp, float* yp, int64_t n, float a, float b) {
    CMapA x(xp, n);
    MapA y(yp, n);
    switch (op) {
        case Unary::neg: y = -x; break;
        case Unary::exp: y = x.exp(); break;
        case Unary::log: y = x.log(); break;
        case Unary::sqrt: y = x.sqrt(); break;
        case Unary::rsqrt: y = x.rsqrt(); break;
        case Unary::abs: y = x.abs(); break;
        case Unary::sign: y = x.sign(); break;
        case Unary::square: y = x.square(); break;
        case Unary::reciprocal: y = x.inverse(); break;
        case Unary::relu: y = x.max(0.f); break;
        case Unary::relu_grad: y = (x > 0.f).cast<float>(); break;
        case Unary::silu: y = x * x.logistic(); break;
        case Unary::silu_grad: {
            // silu'(x) = s (1 + x (1 - s)),  s = 1 / (1 + e^-x)
            Arr s = x.logistic();
            y = s * (1.f + x * (1.f - s));
            break;
        }
        case Unary::gelu: y = 0.5f * x * (1.f + (x * kInvSqrt2).erf()); break;
        case Unary::gelu_grad:
            // gelu'(x) = Phi(x) + x phi(x),  Phi(x) = (1 + erf(x/sqrt2))/2,  phi = e^{-x^2/2}/sqrt(2 pi)
            y = 0.5f * (1.f + (x * kInvSqrt2).erf()) + x * kInvSqrt2Pi * (-0.5f * x.square()).exp();
            break;
        case Unary::tanh: y = x.tanh(); break;
        case Unary::sigmoid: y = x.logistic(); break;
        case Unary::sin: y = x.sin(); break;
        case Unary::cos: y = x.cos(); break;
        case Unary::softplus:
            // log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}), stable for large |x|
            y = x.max(0.f) + (-x.abs()).exp().log1p();
            break;
        case Unary::add_scalar: y = x + a; break;
        case Unary::mul_scalar: y = x * a; break;
        case Unary::pow_scalar:
            if (a == 2.f) y = x.square();
            else if (a == 1.f) y = x;
            else if (a == 0.5f) y = x.sqrt();
            else if (a == -0.5f) y = x.rsqrt();
            else if (a == -1.f) y = x.inverse();
            else if (a == 0.f) y = Arr::Ones(n);
            else y = x.pow(a);
            break;
        case Unary::rsub_scalar: y = a - x; break;
        case Unary::clamp: y = x.max(a).min(b); break;
        case Unary::in_range: y = ((x >= a) && (x <= b)).cast<float>(); break;
        case Unary::gt_scalar: y = (x > a).cast<float>(); break;
        case Unary::eq_scalar: y = (x == a).cast<float>(); break;
    }
}

// Binary functors usable on Eigen array expressions and on plain floats.
struct AddF { template <class A, class B> auto operator()(const A& a, const B& b) const { return a + b; } };
struct SubF { template <class A, class B> auto operator()(const A& a, const B& b) const { return a - b; } };
struct MulF { template <class A, class B> auto operator()(const A& a, const B& b) const { return a * b; } };
struct DivF { template <class A, class B> auto operator()(const A& a, const B& b) const { return a / b; } };
struct MaxF {
    template <class A, class B> auto operator()(const A& a, const B& b) const { return a.max(b); }
    float operator()(float a, float b) const { return std::max(a, b); }
};
struct MinF {
    template <class A, class B> auto operator()(const A& a, const B& b) const { return a.min(b); }
    float operator()(float a, float b) const { return std::min(a, b); }
};
struct EqF {
    template <class A, class B> auto operator()(const A& a, const B& b) const { return (a == b).template cast<float>(); }
    float operator()(float a, float b) const { return a == b ? 1.f : 0.f; }
};
struct GtF {
    template <class A, class B> auto operator()(const A& a, const B& b) const { return (a > b).template cast<float>(); }
    float operator()(float a, float b) const { return a > b ? 1.f : 0.f; }
};
struct PowF {
    template <class A, class B> auto operator()(const A& a, const B& b) const { return a.pow(b); }
    float operator()(float a, float b) const { return std::pow(a, b); }
};

// g * silu'(x) = g s (1 + x (1 - s)), s = sigmoid(x), with s computed once per block.
struct SiluBackwardF {
    template <class A, class B> auto operator()(const A& g, const B& x) const {
        return g * x.logistic() * (1.f + x * (1.f - x.logistic()));
    }
    float operator()(float g, float x) const {
        const float s = 1.f / (1.f + std::exp(-x));
        return g * s * (1.f + x * (1.f - s));
    }
};

void silu_backward_block(const float* g, const float* x, float* o, int64_t n) {
    constexpr int64_t kBlock = 1024;
    float s[kBlock];
    for (int64_t i = 0; i < n; i += kBlock) {
        const int64_t m = std::min(kBlock, n - i);
        CMapA xs(x + i, m);
        MapA sv(s, m);
        sv = xs.logistic();
        MapA(o + i, m) = CMapA(g + i, m) * sv * (1.f + xs * (1.f - sv));
    }
}

template <class F>
void binary_row(F f, const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t so, int64_t n) {
    if (so == 1 && sa == 1 && sb == 1) {
        MapA(o, n) = f(CMapA(a, n), CMapA(b, n));
    } else if (so == 1 && sa == 1 && sb == 0) {
        MapA(o, n) = f(CMapA(a, n), Arr::Constant(n, *b));
    } else if (so == 1 && sa == 0 && sb == 1) {
        MapA(o, n) = f(Arr::Constant(n, *a), CMapA(b, n));
    } else {
        for (int64_t i = 0; i < n; ++i) o[i * so] = f(a[i * sa], b[i * sb]);
    }
}

template <class F>
void binary_apply(F f, const Tensor& a, const Tensor& b, Tensor& out) {
    std::array<float*, 3> base{out.data(), const_cast<float*>(a.data()), const_cast<float*>(b.data())};
    for_each_row<3>(out.shape(), base, {&out.strides(), &a.strides(), &b.strides()},
                    [&](std::array<float*, 3> p, int64_t n, std::array<int64_t, 3> s) {
                        binary_row(f, p[1], s[1], p[2], s[2], p[0], s[0], n);
                    });
}

}  // namespace

void unary(Unary op, const Tensor& x, Tensor& out, float a, float b) {
    RFLOW_CHECK(out.is_contiguous(), "unary output must be contiguous");
    Tensor xc = x.is_contiguous() ? x : x.contiguous();
    const float* src = xc.data();
    float* dst = out.data();
    parallel_for(x.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
        unary_block(op, src + begin, dst + begin, end - begin, a, b);
    });
}

void binary(Binary op, const Tensor& a, const Tensor& b, Tensor& out) {
    switch (op) {
        case Binary::add: binary_apply(AddF{}, a, b, out); break;
        case Binary::sub: binary_apply(SubF{}, a, b, out); break;
        case Binary::mul: binary_apply(MulF{}, a, b, out); break;
        case Binary::div: binary_apply(DivF{}, a, b, out); break;
        case Binary::maximum: binary_apply(MaxF{}, a, b, out); break;
        case Binary::minimum: binary_apply(MinF{}, a, b, out); break;
        case Binary::eq: binary_apply(EqF{}, a, b, out); break;
        case Binary::gt: binary_apply(GtF{}, a, b, out); break;
        case Binary::pow: binary_apply(PowF{}, a, b, out); break;
        case Binary::silu_backward:
            if (a.is_contiguous() && b.is_contiguous()) {
                const float *pa = a.data(), *pb = b.data();
                float* po = out.data();
                parallel_for(out.numel(), kElementwiseGrain, [&](int64_t s, int64_t e) {
                    silu_backward_block(pa + s, pb + s, po + s, e - s);
                });
            } else {
                binary_apply(SiluBackwardF{}, a, b, out);
            }
            break;
    }
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
    std::array<float*, 4> base{out.data(), const_cast<float*>(cond.data()), const_cast<float*>(a.data()),
                               const_cast<float*>(b.data())};
    for_each_row<4>(out.shape(), base, {&out.strides(), &cond.strides(), &a.strides(), &b.strides()},
                    [](std::array<float*, 4> p, int64_t n, std::array<int64_t, 4> s) {
                        for (int64_t i = 0; i < n; ++i)
                            p[0][i * s[0]] = p[1][i * s[1]] != 0.f ? p[2][i * s[2]] : p[3][i * s[3]];
                    });
}

void fill(Tensor& out, float value) {
    std::array<float*, 1> base{out.data()};
    for_each_row<1>(out.shape(), base, {&out.strides()},
                    [value](std::array<float*, 1> p, int64_t n, std::array<int64_t, 1> s) {
                        if (s[0] == 1) MapA(p[0], n).setConstant(value);
                        else for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] = value;
                    });
}

void copy(const Tensor& src, Tensor& dst) {
    RFLOW_CHECK(src.shape() == dst.shape(), "copy between shapes " << shape_str(src.shape()) << " and "
                                                                    << shape_str(dst.shape()));
    std::array<float*, 2> base{dst.data(), const_cast<float*>(src.data())};
    for_each_row<2>(dst.shape(), base, {&dst.strides(), &src.strides()},
                    [](std::array<float*, 2> p, int64_t n, std::array<int64_t, 2> s) {
                        if (s[0] == 1 && s[1] == 1) std::copy(p[1], p[1] + n, p[0]);
                        else for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] = p[1][i * s[1]];
                    });
}

// Random fills: element i is Philox word offset + i (counter-based), so the threads' ranges give
// the same values as one pass.
void uniform(Tensor& out, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi) {
    RFLOW_CHECK(out.is_contiguous(), "random fill needs a contiguous tensor");
    float* p = out.data();
    parallel_for(out.numel(), kElementwiseGrain, [&](int64_t i0, int64_t i1) {
        philox_uniform(p + i0, i1 - i0, seed, stream, offset + static_cast<uint64_t>(i0));
        if (lo != 0.f || hi != 1.f) MapA(p + i0, i1 - i0) = lo + (hi - lo) * MapA(p + i0, i1 - i0);
    });
}

void normal(Tensor& out, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std) {
    RFLOW_CHECK(out.is_contiguous(), "random fill needs a contiguous tensor");
    float* p = out.data();
    parallel_for(out.numel(), kElementwiseGrain, [&](int64_t i0, int64_t i1) {
        philox_normal(p + i0, i1 - i0, seed, stream, offset + static_cast<uint64_t>(i0));
        if (mean != 0.f || std != 1.f) MapA(p + i0, i1 - i0) = mean + std * MapA(p + i0, i1 - i0);
    });
}

}  // namespace rflow::cpu
