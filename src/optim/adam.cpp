// Adam and AdamW: one fused pass per parameter (torch.optim.Adam / AdamW semantics).
#include "rflow/optim/adam.hpp"

#include <cmath>

#include "optim_util.hpp"
#include "rflow/error.hpp"

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

void Adam::step() {
    const float b1 = opt_.beta1, b2 = opt_.beta2, eps = opt_.eps;
    const bool decoupled = decoupled_;
    apply_update([&](const Update& u) {
        const float lr = u.group.lr, wd = u.group.weight_decay;
        // Bias corrections in double, as PyTorch computes them from Python floats.
        const double bc1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(u.step));
        const double bc2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(u.step));
        const float step_size = static_cast<float>(lr / bc1);        // lr / (1 - b1^t)
        const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));  // sqrt(1 - b2^t)
        const float l2 = decoupled ? 0.f : wd;                       // Adam: g += wd p
        const float shrink = decoupled ? 1.f - lr * wd : 1.f;        // AdamW: p *= 1 - lr wd
        detail::for_blocks(u.n, [&](int64_t i, int64_t len) {
            detail::ArrMap p(u.param + i, len), m(u.buf[0] + i, len), v(u.buf[1] + i, len);
            detail::CArrMap grad(u.grad + i, len);
            auto g = grad + l2 * p;                   // g = grad + wd p (Adam only)
            m = b1 * m + (1.f - b1) * g;              // m = b1 m + (1 - b1) g
            v = b2 * v + (1.f - b2) * g * g;          // v = b2 v + (1 - b2) g^2
            // p = (1 - lr wd) p - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
            p = shrink * p - step_size * (m / (v.sqrt() / bc2_sqrt + eps));
        });
    });
}

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& options)
    : Adam(one_group(params, options), options, true, "adamw") {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Adam(std::move(groups), options, true, "adamw") {}

}  // namespace rflow::optim
