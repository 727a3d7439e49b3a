// Differentiable softmax, log-softmax and layer norm (fused forward, backward as ops).
#include "op_util.hpp"
#include "rflow/ops.hpp"

namespace rflow {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

namespace {

Tensor softmax_last(const Tensor& a, bool log) {
    Tensor out = make_tensor(a.shape(), a.device());
    backend::get(a.device()).softmax(a, out, log);
    detail::SavedOutput y;
    if (log) {
        // d log_softmax: g - softmax(a) * sum(g)
        return y.set(record(out, "log_softmax", {a}, [y](const Tensor& g, const Needs&) {
            return Grads{sub(g, mul(exp(y.get()), sum(g, {-1}, true)))};
        }));
    }
    // d softmax: y * (g - sum(g * y))
    return y.set(record(out, "softmax", {a}, [y](const Tensor& g, const Needs&) {
        Tensor s = y.get();
        return Grads{mul(s, sub(g, sum(mul(g, s), {-1}, true)))};
    }));
}

Tensor softmax_dim(const Tensor& a, int64_t dim, bool log) {
    RFLOW_CHECK(a.dim() >= 1, (log ? "log_softmax" : "softmax") << ": needs rank >= 1");
    dim = wrap_dim(dim, a.dim(), log ? "log_softmax" : "softmax");
    if (dim == a.dim() - 1) return softmax_last(a, log);
    return softmax_last(a.transpose(dim, -1), log).transpose(dim, -1);
}

}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) { return softmax_dim(a, dim, false); }
Tensor log_softmax(const Tensor& a, int64_t dim) { return softmax_dim(a, dim, true); }

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
    RFLOW_CHECK(x.dim() >= 1, "layer_norm: needs rank >= 1");
    Tensor out = make_tensor(x.shape(), x.device());
    backend::get(x.device()).layer_norm(x, out, eps);
    detail::SavedOutput xhat;
    // with xhat = (x - mu) r, r = (var + eps)^-1/2:  dx = r (g - mean(g) - xhat mean(g xhat))
    Tensor y = xhat.set(record(out, "layer_norm", {x}, [x, xhat, eps](const Tensor& g, const Needs&) {
        Tensor xc = sub(x, mean(x, {-1}, true));
        Tensor r = rsqrt(add(mean(square(xc), {-1}, true), eps));
        Tensor h = xhat.get();
        Tensor inner = sub(sub(g, mean(g, {-1}, true)), mul(h, mean(mul(g, h), {-1}, true)));
        return Grads{mul(r, inner)};
    }));
    if (weight.defined()) y = mul(y, weight);
    if (bias.defined()) y = add(y, bias);
    return y;
}

}  // namespace rflow
