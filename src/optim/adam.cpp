// Adam and AdamW (torch.optim.Adam / AdamW semantics): one fused Eigen pass per CPU parameter, the
// same formulas as element-wise ops for parameters on another device.
#include "rflow/optim/adam.hpp"

#include <cmath>

#include "optim_util.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::optim {

namespace {

void check_options(const AdamOptions& o) {
    RFLOW_CHECK(o.beta1 >= 0.f && o.beta1 < 1.f, "adam: beta1 " << o.beta1 << " not in [0, 1)");
    RFLOW_CHECK(o.beta2 >= 0.f && o.beta2 < 1.f, "adam: beta2 " << o.beta2 << " not in [0, 1)");
    RFLOW_CHECK(std::isfinite(o.eps) && o.eps >= 0.f, "adam: eps " << o.eps);
}

std::vector<ParamGroup> one_group(const std::vector<Tensor>& params, const AdamOptions& o) {
    return {ParamGroup{"", params, o.lr, o.weight_decay}};
}

}  // namespace

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& options)
    : Adam(one_group(params, options), options, false, "adam") {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options)
    : Adam(std::move(groups), options, false, "adam") {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled,
           const char* kind)
    : Optimizer(std::move(groups), kind, {"m", "v"}), opt_(options), decoupled_(decoupled) {
    check_options(options);
}

namespace {

/// The scalars of one Adam(W) update at step t.
struct AdamCoeffs {
    float step_size;  // lr / (1 - b1^t)
    float bc2_sqrt;   // sqrt(1 - b2^t)
    float l2;         // Adam: g += wd p
    float shrink;     // AdamW: p *= 1 - lr wd
};

AdamCoeffs adam_coeffs(const AdamOptions& o, const ParamGroup& group, int64_t step, bool decoupled) {
    // Bias corrections in double, as PyTorch computes them from Python floats.
    const double bc1 = 1.0 - std::pow(static_cast<double>(o.beta1), static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(o.beta2), static_cast<double>(step));
    const float lr = group.lr, wd = group.weight_decay;
    return {static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)), decoupled ? 0.f : wd,
            decoupled ? 1.f - lr * wd : 1.f};
}

}  // namespace

void Adam::step() {
    const float b1 = opt_.beta1, b2 = opt_.beta2, eps = opt_.eps;
    const bool decoupled = decoupled_;
    // The device form: the same formulas as element-wise ops (one kernel each on the GPU).
    auto on_device = [&](const DeviceUpdate& u) {
        const AdamCoeffs c = adam_coeffs(opt_, u.group, u.step, decoupled);
        Tensor& p = u.param;
        Tensor& m = u.buf[0];
        Tensor& v = u.buf[1];
        const Tensor g = c.l2 != 0.f ? add(u.grad, mul(p, c.l2)) : u.grad;
        m.copy_(add(mul(m, b1), mul(g, 1.f - b1)));
        v.copy_(add(mul(v, b2), mul(square(g), 1.f - b2)));
        p.copy_(sub(mul(p, c.shrink), mul(div(m, add(div(sqrt(v), Tensor::scalar(c.bc2_sqrt, p.device())), eps)),
                                          c.step_size)));
    };
    apply_update([&](const Update& u) {
        const AdamCoeffs c = adam_coeffs(opt_, u.group, u.step, decoupled);
        const float step_size = c.step_size, bc2_sqrt = c.bc2_sqrt, l2 = c.l2, shrink = c.shrink;
        detail::for_blocks(u.n, [&](int64_t i, int64_t len) {
            detail::ArrMap p(u.param + i, len), m(u.buf[0] + i, len), v(u.buf[1] + i, len);
            detail::CArrMap grad(u.grad + i, len);
            auto g = grad + l2 * p;                   // g = grad + wd p (Adam only)
            m = b1 * m + (1.f - b1) * g;              // m = b1 m + (1 - b1) g
            v = b2 * v + (1.f - b2) * g * g;          // v = b2 v + (1 - b2) g^2
            // p = (1 - lr wd) p - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
            p = shrink * p - step_size * (m / (v.sqrt() / bc2_sqrt + eps));
        });
    }, on_device);
}

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& options)
    : Adam(one_group(params, options), options, true, "adamw") {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Adam(std::move(groups), options, true, "adamw") {}

}  // namespace rflow::optim
