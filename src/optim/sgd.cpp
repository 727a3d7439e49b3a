// SGD with momentum / Nesterov: one fused pass per parameter (torch.optim.SGD semantics).
#include "rflow/optim/sgd.hpp"

#include <cmath>

#include "optim_util.hpp"
#include "rflow/error.hpp"

namespace rflow::optim {

namespace {

std::vector<std::string> sgd_buffers(const SgdOptions& o) {
    RFLOW_CHECK(std::isfinite(o.momentum) && o.momentum >= 0.f, "sgd: momentum " << o.momentum);
    RFLOW_CHECK(std::isfinite(o.dampening), "sgd: dampening " << o.dampening);
    RFLOW_CHECK(!o.nesterov || (o.momentum > 0.f && o.dampening == 0.f),
                "sgd: nesterov needs momentum > 0 and dampening 0");
    if (o.momentum != 0.f) return {"momentum"};
    return {};
}

}  // namespace

Sgd::Sgd(const std::vector<Tensor>& params, const SgdOptions& options)
    : Sgd(std::vector<ParamGroup>{ParamGroup{"", params, options.lr, options.weight_decay}},
          options) {}

Sgd::Sgd(std::vector<ParamGroup> groups, const SgdOptions& options)
    : Optimizer(std::move(groups), "sgd", sgd_buffers(options)), opt_(options) {}

void Sgd::step() {
    const float mu = opt_.momentum, damp = opt_.dampening;
    const bool nesterov = opt_.nesterov;
    apply_update([&](const Update& u) {
        const float lr = u.group.lr, wd = u.group.weight_decay;
        const bool first = u.step == 1;
        detail::for_blocks(u.n, [&](int64_t i, int64_t len) {
            detail::ArrMap p(u.param + i, len);
            detail::CArrMap grad(u.grad + i, len);
            // g = grad + wd p   (evaluated lazily inside each statement below)
            auto g = grad + wd * p;
            if (mu == 0.f) {
                p -= lr * g;  // p -= lr g
                return;
            }
            detail::ArrMap buf(u.buf[0] + i, len);
            if (first) {
                buf = g;  // buf = g at the first update
            } else {
                buf = mu * buf + (1.f - damp) * g;  // buf = mu buf + (1 - tau) g
            }
            if (nesterov) {
                p -= lr * (g + mu * buf);  // p -= lr (g + mu buf)
            } else {
                p -= lr * buf;  // p -= lr buf
            }
        });
    });
}

}  // namespace rflow::optim
