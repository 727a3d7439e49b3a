// Scalar forms of the backend's element-wise functions, as inline host-and-device functions:
// the CUDA kernels call them per element, and the CPU test compares them with the CPU backend's
// vectorised (Eigen) versions, so both devices compute the same formulas. Internal header.
#pragma once

#include <math.h>

#include "../backend.hpp"
#include "philox_math.hpp"  // RFLOW_HD

namespace rflow::detail {

/// y = op(x) with the scalar parameters a, b (see backend::Unary).
RFLOW_HD inline float unary_math(backend::Unary op, float x, float a, float b) {
    using U = backend::Unary;
    constexpr float kInvSqrt2 = 0.70710678118654752f;
    constexpr float kInvSqrt2Pi = 0.39894228040143268f;
    switch (op) {
        case U::neg: return -x;
        case U::exp: return expf(x);
        case U::log: return logf(x);
        case U::sqrt: return sqrtf(x);
        case U::rsqrt: return 1.f / sqrtf(x);
        case U::abs: return fabsf(x);
        case U::sign: return x > 0.f ? 1.f : (x < 0.f ? -1.f : (x == 0.f ? 0.f : x));  // NaN stays NaN
        case U::square: return x * x;
        case U::reciprocal: return 1.f / x;
        case U::relu: return x < 0.f ? 0.f : x;  // std::max(x, 0): NaN propagates, as on the CPU
        case U::relu_grad: return x > 0.f ? 1.f : 0.f;
        case U::silu: return x / (1.f + expf(-x));
        case U::silu_grad: {  // silu'(x) = s (1 + x (1 - s)),  s = 1 / (1 + e^-x)
            const float s = 1.f / (1.f + expf(-x));
            return s * (1.f + x * (1.f - s));
        }
        case U::gelu: return 0.5f * x * (1.f + erff(x * kInvSqrt2));  // x Phi(x)
        case U::gelu_grad:  // Phi(x) + x phi(x)
            return 0.5f * (1.f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
        case U::tanh: return tanhf(x);
        case U::sigmoid: return 1.f / (1.f + expf(-x));
        case U::sin: return sinf(x);
        case U::cos: return cosf(x);
        case U::softplus: return fmaxf(x, 0.f) + log1pf(expf(-fabsf(x)));  // log(1 + e^x), stable
        case U::add_scalar: return x + a;
        case U::mul_scalar: return x * a;
        case U::pow_scalar:  // the exponents the CPU special-cases, computed the same way
            if (a == 2.f) return x * x;
            if (a == 1.f) return x;
            if (a == 0.5f) return sqrtf(x);
            if (a == -0.5f) return 1.f / sqrtf(x);
            if (a == -1.f) return 1.f / x;
            if (a == 0.f) return 1.f;
            return powf(x, a);
        case U::rsub_scalar: return a - x;
        case U::clamp: {  // std::min(std::max(x, a), b), as Eigen's x.max(a).min(b): NaN propagates
            const float m = x < a ? a : x;
            return b < m ? b : m;
        }
        case U::in_range: return (x >= a && x <= b) ? 1.f : 0.f;
        case U::gt_scalar: return x > a ? 1.f : 0.f;
        case U::eq_scalar: return x == a ? 1.f : 0.f;
    }
    return 0.f;
}

/// op(x, y) (see backend::Binary).
RFLOW_HD inline float binary_math(backend::Binary op, float x, float y) {
    using B = backend::Binary;
    switch (op) {
        case B::add: return x + y;
        case B::sub: return x - y;
        case B::mul: return x * y;
        case B::div: return x / y;
        case B::maximum: return x < y ? y : x;  // std::max(x, y), as Eigen's max (not fmaxf: NaN propagates)
        case B::minimum: return y < x ? y : x;  // std::min(x, y)
        case B::eq: return x == y ? 1.f : 0.f;
        case B::gt: return x > y ? 1.f : 0.f;
        case B::pow: return powf(x, y);
        case B::silu_backward: {  // x silu'(y): the gradient x = g flowing into silu at y
            const float s = 1.f / (1.f + expf(-y));
            return x * s * (1.f + y * (1.f - s));
        }
    }
    return 0.f;
}

}  // namespace rflow::detail
