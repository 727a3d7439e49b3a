// Differentiable element-wise ops with broadcasting, and their derivatives as differentiable ops.
#include <cmath>

#include "op_util.hpp"
#include "rflow/ops.hpp"

namespace rflow {

using backend::Binary;
using backend::Unary;
using detail::raw_binary;
using detail::raw_unary;
using detail::SavedOutput;
using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

namespace detail {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
    const size_t r = std::max(a.size(), b.size());
    Shape out(r);
    for (size_t i = 0; i < r; ++i) {
        const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
        RFLOW_CHECK(da == db || da == 1 || db == 1,
                    op << ": shapes " << shape_str(a) << " and " << shape_str(b) << " do not broadcast");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

Device common_device(const Tensor& a, const Tensor& b, const char* op) {
    RFLOW_CHECK(a.defined() && b.defined(), op << ": undefined tensor");
    RFLOW_CHECK(a.device() == b.device(), op << ": tensors on different devices (" << device_name(a.device())
                                             << " and " << device_name(b.device()) << ")");
    return a.device();
}

Tensor raw_unary(Unary op, const Tensor& x, float a, float b) {
    RFLOW_CHECK(x.defined(), "unary op on an undefined tensor");
    Tensor out = make_tensor(x.shape(), x.device());
    backend::get(x.device()).unary(op, x, out, a, b);
    return out;
}

Tensor raw_binary(Binary op, const Tensor& a, const Tensor& b, const char* name) {
    const Device dev = common_device(a, b, name);
    const Shape s = broadcast_shapes(a.shape(), b.shape(), name);
    Tensor out = make_tensor(s, dev);
    backend::get(dev).binary(op, a.detach().expand(s), b.detach().expand(s), out);
    return out;
}

}  // namespace detail

// ---------------------------------------------------------------- binary

Tensor add(const Tensor& a, const Tensor& b) {
    return record(raw_binary(Binary::add, a, b, "add"), "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const Needs& n) {
        return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(g, sb) : Tensor()};
    });
}

Tensor sub(const Tensor& a, const Tensor& b) {
    return record(raw_binary(Binary::sub, a, b, "sub"), "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const Needs& n) {
        return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? neg(sum_to(g, sb)) : Tensor()};
    });
}

// a is needed only for b's gradient (and b for a's): a side that cannot need one keeps the other
// side's memory from being held until backward (e.g. x * mask in dropout keeps only the mask).
Tensor mul(const Tensor& a, const Tensor& b) {
    const Tensor sa = b.requires_grad() ? a : Tensor(), sb = a.requires_grad() ? b : Tensor();
    return record(raw_binary(Binary::mul, a, b, "mul"), "mul", {a, b},
                  [sa, sb, shape_a = a.shape(), shape_b = b.shape()](const Tensor& g, const Needs& n) {
                      return Grads{n[0] ? sum_to(mul(g, sb), shape_a) : Tensor(),
                                   n[1] ? sum_to(mul(g, sa), shape_b) : Tensor()};
                  });
}

Tensor div(const Tensor& a, const Tensor& b) {
    // d(a/b)/da = 1/b,  d(a/b)/db = -a/b^2
    const Tensor sa = b.requires_grad() ? a : Tensor();
    return record(raw_binary(Binary::div, a, b, "div"), "div", {a, b},
                  [sa, b, shape_a = a.shape()](const Tensor& g, const Needs& n) {
                      return Grads{n[0] ? sum_to(div(g, b), shape_a) : Tensor(),
                                   n[1] ? sum_to(neg(div(mul(g, sa), square(b))), b.shape()) : Tensor()};
                  });
}

static Tensor extremum(const Tensor& a, const Tensor& b, bool take_max) {
    const char* name = take_max ? "maximum" : "minimum";
    Tensor out = raw_binary(take_max ? Binary::maximum : Binary::minimum, a, b, name);
    return record(out, name, {a, b}, [a, b, take_max](const Tensor& g, const Needs& n) {
        // a wins ties; the mask is piecewise constant, so it carries no gradient
        Tensor b_wins = take_max ? raw_binary(Binary::gt, b, a, "maximum") : raw_binary(Binary::gt, a, b, "minimum");
        Tensor a_wins = raw_unary(Unary::rsub_scalar, b_wins, 1.f);
        return Grads{n[0] ? sum_to(mul(g, a_wins), a.shape()) : Tensor(),
                     n[1] ? sum_to(mul(g, b_wins), b.shape()) : Tensor()};
    });
}

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

Tensor gt(const Tensor& a, const Tensor& b) { return raw_binary(Binary::gt, a, b, "gt"); }
Tensor eq(const Tensor& a, const Tensor& b) { return raw_binary(Binary::eq, a, b, "eq"); }
Tensor gt(const Tensor& a, float s) { return raw_unary(Unary::gt_scalar, a, s); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    const Device dev = detail::common_device(a, b, "where");
    detail::common_device(cond, a, "where");
    const Shape s = detail::broadcast_shapes(detail::broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
    Tensor out = make_tensor(s, dev);
    backend::get(dev).where(cond.detach().expand(s), a.detach().expand(s), b.detach().expand(s), out);
    return record(out, "where", {a, b}, [cond, sa = a.shape(), sb = b.shape()](const Tensor& g, const Needs& n) {
        Tensor z = zeros_like(g);
        return Grads{n[0] ? sum_to(where(cond, g, z), sa) : Tensor(), n[1] ? sum_to(where(cond, z, g), sb) : Tensor()};
    });
}

// ---------------------------------------------------------------- scalar

Tensor add(const Tensor& a, float s) {
    return record(raw_unary(Unary::add_scalar, a, s), "add_scalar", {a},
                  [](const Tensor& g, const Needs&) { return Grads{g}; });
}

Tensor mul(const Tensor& a, float s) {
    return record(raw_unary(Unary::mul_scalar, a, s), "mul_scalar", {a},
                  [s](const Tensor& g, const Needs&) { return Grads{mul(g, s)}; });
}

Tensor rsub(const Tensor& a, float s) {
    return record(raw_unary(Unary::rsub_scalar, a, s), "rsub_scalar", {a},
                  [](const Tensor& g, const Needs&) { return Grads{neg(g)}; });
}

Tensor neg(const Tensor& a) {
    return record(raw_unary(Unary::neg, a), "neg", {a}, [](const Tensor& g, const Needs&) { return Grads{neg(g)}; });
}

Tensor pow(const Tensor& a, float p) {
    // d a^p / da = p a^(p-1)
    return record(raw_unary(Unary::pow_scalar, a, p), "pow", {a}, [a, p](const Tensor& g, const Needs&) {
        if (p == 0.f) return Grads{zeros_like(g)};
        if (p == 1.f) return Grads{g};
        if (p == 2.f) return Grads{mul(g, mul(a, 2.f))};
        return Grads{mul(g, mul(pow(a, p - 1.f), p))};
    });
}

Tensor square(const Tensor& a) { return pow(a, 2.f); }

// ---------------------------------------------------------------- unary functions

Tensor exp(const Tensor& a) {
    SavedOutput y;  // d e^a = e^a
    return y.set(record(raw_unary(Unary::exp, a), "exp", {a}, [y](const Tensor& g, const Needs&) { return Grads{mul(g, y.get())}; }));
}

Tensor log(const Tensor& a) {
    return record(raw_unary(Unary::log, a), "log", {a}, [a](const Tensor& g, const Needs&) { return Grads{div(g, a)}; });
}

Tensor sqrt(const Tensor& a) {
    SavedOutput y;  // d sqrt(a) = 1 / (2 sqrt(a))
    return y.set(record(raw_unary(Unary::sqrt, a), "sqrt", {a},
                        [y](const Tensor& g, const Needs&) { return Grads{div(mul(g, 0.5f), y.get())}; }));
}

Tensor rsqrt(const Tensor& a) { return pow(a, -0.5f); }

Tensor abs(const Tensor& a) {
    return record(raw_unary(Unary::abs, a), "abs", {a},
                  [a](const Tensor& g, const Needs&) { return Grads{mul(g, raw_unary(Unary::sign, a))}; });
}

Tensor relu(const Tensor& a) {
    return record(raw_unary(Unary::relu, a), "relu", {a},
                  [a](const Tensor& g, const Needs&) { return Grads{mul(g, raw_unary(Unary::relu_grad, a))}; });
}

// silu''(x) = s (1 - s) (2 + x (1 - 2 s)), composed of differentiable ops
static Tensor silu_second(const Tensor& a) {
    Tensor s = sigmoid(a);
    return mul(mul(s, rsub(s, 1.f)), add(mul(a, rsub(mul(s, 2.f), 1.f)), 2.f));
}

// silu'(x) = s (1 + x (1 - s)) as one fused op
static Tensor silu_grad(const Tensor& a) {
    return record(raw_unary(Unary::silu_grad, a), "silu_grad", {a},
                  [a](const Tensor& g, const Needs&) { return Grads{mul(g, silu_second(a))}; });
}

// g * silu'(x) in one pass (the backward of silu); differentiable in both g and x
Tensor detail::silu_backward(const Tensor& g, const Tensor& a) {
    Tensor out = raw_binary(Binary::silu_backward, g, a, "silu_backward");
    return record(out, "silu_backward", {g, a}, [g, a](const Tensor& gg, const Needs& n) {
        return Grads{n[0] ? mul(gg, silu_grad(a)) : Tensor(), n[1] ? mul(mul(gg, g), silu_second(a)) : Tensor()};
    });
}

Tensor silu(const Tensor& a) {
    return record(raw_unary(Unary::silu, a), "silu", {a},
                  [a](const Tensor& g, const Needs&) { return Grads{detail::silu_backward(g, a)}; });
}

// gelu'(x) = Phi(x) + x phi(x) fused; gelu''(x) = phi(x) (2 - x^2), phi(x) = e^{-x^2/2} / sqrt(2 pi)
static Tensor gelu_grad(const Tensor& a) {
    return record(raw_unary(Unary::gelu_grad, a), "gelu_grad", {a}, [a](const Tensor& g, const Needs&) {
        Tensor phi = mul(exp(mul(square(a), -0.5f)), 0.3989422804014327f);
        return Grads{mul(g, mul(phi, rsub(square(a), 2.f)))};
    });
}

Tensor gelu(const Tensor& a) {
    return record(raw_unary(Unary::gelu, a), "gelu", {a}, [a](const Tensor& g, const Needs&) { return Grads{mul(g, gelu_grad(a))}; });
}

Tensor tanh(const Tensor& a) {
    SavedOutput y;  // d tanh = 1 - tanh^2
    return y.set(record(raw_unary(Unary::tanh, a), "tanh", {a},
                        [y](const Tensor& g, const Needs&) { return Grads{mul(g, rsub(square(y.get()), 1.f))}; }));
}

Tensor sigmoid(const Tensor& a) {
    SavedOutput y;  // d s = s (1 - s)
    return y.set(record(raw_unary(Unary::sigmoid, a), "sigmoid", {a}, [y](const Tensor& g, const Needs&) {
        Tensor s = y.get();
        return Grads{mul(g, mul(s, rsub(s, 1.f)))};
    }));
}

Tensor softplus(const Tensor& a) {
    return record(raw_unary(Unary::softplus, a), "softplus", {a},
                  [a](const Tensor& g, const Needs&) { return Grads{mul(g, sigmoid(a))}; });
}

Tensor sin(const Tensor& a) {
    return record(raw_unary(Unary::sin, a), "sin", {a}, [a](const Tensor& g, const Needs&) { return Grads{mul(g, cos(a))}; });
}

Tensor cos(const Tensor& a) {
    return record(raw_unary(Unary::cos, a), "cos", {a}, [a](const Tensor& g, const Needs&) { return Grads{neg(mul(g, sin(a)))}; });
}

Tensor clamp(const Tensor& a, float lo, float hi) {
    RFLOW_CHECK(lo <= hi, "clamp: lo " << lo << " > hi " << hi);
    return record(raw_unary(Unary::clamp, a, lo, hi), "clamp", {a}, [a, lo, hi](const Tensor& g, const Needs&) {
        return Grads{mul(g, raw_unary(Unary::in_range, a, lo, hi))};
    });
}

Tensor zeros_like(const Tensor& a) { return Tensor::zeros(a.shape(), a.device()); }
Tensor ones_like(const Tensor& a) { return Tensor::ones(a.shape(), a.device()); }

}  // namespace rflow
