// RMSProp with optional momentum and centring: one fused pass per parameter
// (torch.optim.RMSprop semantics).
#include "rflow/optim/rmsprop.hpp"

#include <cmath>

#include "optim_util.hpp"
#include "rflow/error.hpp"

namespace rflow::optim {

namespace {

// Buffer order: square_avg, then momentum (if any), then grad_avg (if centred).
std::vector<std::string> rmsprop_buffers(const RmsPropOptions& o) {
    RFLOW_CHECK(o.alpha >= 0.f && o.alpha <= 1.f, "rmsprop: alpha " << o.alpha << " not in [0, 1]");
    RFLOW_CHECK(std::isfinite(o.eps) && o.eps >= 0.f, "rmsprop: eps " << o.eps);
    RFLOW_CHECK(std::isfinite(o.momentum) && o.momentum >= 0.f, "rmsprop: momentum " << o.momentum);
    std::vector<std::string> names{"square_avg"};
    if (o.momentum > 0.f) names.push_back("momentum");
    if (o.centered) names.push_back("grad_avg");
    return names;
}

}  // namespace

RmsProp::RmsProp(const std::vector<Tensor>& params, const RmsPropOptions& options)
    : RmsProp(std::vector<ParamGroup>{ParamGroup{"", params, options.lr, options.weight_decay}},
              options) {}

RmsProp::RmsProp(std::vector<ParamGroup> groups, const RmsPropOptions& options)
    : Optimizer(std::move(groups), "rmsprop", rmsprop_buffers(options)), opt_(options) {}

void RmsProp::step() {
    const float alpha = opt_.alpha, eps = opt_.eps, mu = opt_.momentum;
    const bool use_momentum = mu > 0.f, centered = opt_.centered;
    const int ga_index = use_momentum ? 2 : 1;
    apply_update([&](const Update& u) {
        const float lr = u.group.lr, wd = u.group.weight_decay;
        detail::for_blocks(u.n, [&](int64_t i, int64_t len) {
            detail::ArrMap p(u.param + i, len), v(u.buf[0] + i, len);
            detail::CArrMap grad(u.grad + i, len);
            auto g = grad + wd * p;                      // g = grad + wd p
            v = alpha * v + (1.f - alpha) * g * g;       // v = alpha v + (1 - alpha) g^2
            // The rest of the update, given denom = sqrt(v) + eps (or its centred form).
            auto step_dir = [&](auto&& denom) {
                if (use_momentum) {
                    detail::ArrMap buf(u.buf[1] + i, len);
                    buf = mu * buf + g / denom;  // buf = mu buf + g / denom
                    p -= lr * buf;               // p -= lr buf
                } else {
                    p -= lr * (g / denom);       // p -= lr g / denom
                }
            };
            if (centered) {
                detail::ArrMap ga(u.buf[ga_index] + i, len);
                ga = alpha * ga + (1.f - alpha) * g;         // ga = alpha ga + (1 - alpha) g
                step_dir((v - ga * ga).sqrt() + eps);       // denom = sqrt(v - ga^2) + eps
            } else {
                step_dir(v.sqrt() + eps);                    // denom = sqrt(v) + eps
            }
        });
    });
}

}  // namespace rflow::optim
