// Classifier-free guidance: one mechanism over any condition (mixed rows), and its class-label form.
#include "rflow/trainers/guidance.hpp"

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::trainers {

samplers::VelocityField guided_velocity(MixedVelocity velocity, float scale) {
    return [velocity = std::move(velocity), scale](const Tensor& x, const Tensor& t) -> Tensor {
        const auto n = static_cast<size_t>(x.size(0));
        if (scale == 1.f) return velocity(x, t, std::vector<bool>(n, true));
        if (scale == 0.f) return velocity(x, t, std::vector<bool>(n, false));
        // one pass over [x; x]: conditioned rows, then null rows
        std::vector<bool> both(n, true);
        both.insert(both.end(), n, false);
        const Tensor v = velocity(concat({x, x}, 0), concat({t, t}, 0), both);
        const Tensor vc = v.slice(0, 0, x.size(0)), vu = v.slice(0, x.size(0), 2 * x.size(0));
        return add(vu, mul(sub(vc, vu), scale));  // v_u + w (v_c - v_u)
    };
}

samplers::VelocityField guided_velocity(nn::VelocityModel& model, std::vector<int64_t> labels, float scale) {
    const int64_t classes = model.num_classes();
    RFLOW_CHECK(classes > 0 || labels.empty(), "guidance needs a class-conditional model");
    for (int64_t l : labels)
        RFLOW_CHECK(l >= 0 && l <= classes, "guidance: label " << l << " outside [0, " << classes << "]");
    if (labels.empty()) return [&model](const Tensor& x, const Tensor& t) { return model.forward(x, t); };
    const int64_t n = static_cast<int64_t>(labels.size());
    samplers::VelocityField guided = guided_velocity(
        [&model, labels = std::move(labels), classes](const Tensor& x, const Tensor& t, const std::vector<bool>& cond) {
            std::vector<int64_t> rows(cond.size());  // [labels] or [null] or [labels; null]
            for (size_t i = 0; i < cond.size(); ++i) rows[i] = cond[i] ? labels[i % labels.size()] : classes;
            return model.forward(x, t, rows);
        },
        scale);
    return [guided = std::move(guided), n](const Tensor& x, const Tensor& t) {
        RFLOW_CHECK(x.size(0) == n, "guided velocity called on " << x.size(0) << " rows for " << n
                                                                 << " labels (use batch-wide stepping for adaptive samplers)");
        return guided(x, t);
    };
}

}  // namespace rflow::trainers
