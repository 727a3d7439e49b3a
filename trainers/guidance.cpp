// Classifier-free guidance over a class-conditional velocity model.
#include "rflow/trainers/guidance.hpp"

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::trainers {

samplers::VelocityField guided_velocity(nn::VelocityModel& model, std::vector<int64_t> labels, float scale) {
    const int64_t classes = model.num_classes();
    RFLOW_CHECK(classes > 0 || labels.empty(), "guidance needs a class-conditional model");
    for (int64_t l : labels)
        RFLOW_CHECK(l >= 0 && l <= classes, "guidance: label " << l << " outside [0, " << classes << "]");
    return [&model, labels = std::move(labels), scale, classes](const Tensor& x, const Tensor& t) -> Tensor {
        const int64_t n = x.size(0);
        RFLOW_CHECK(labels.empty() || static_cast<int64_t>(labels.size()) == n,
                    "guided velocity called on " << n << " rows for " << labels.size()
                                                 << " labels (use batch-wide stepping for adaptive samplers)");
        if (labels.empty()) return model.forward(x, t);
        if (scale == 1.f) return model.forward(x, t, labels);
        if (scale == 0.f) return model.forward(x, t, std::vector<int64_t>(n, classes));
        // one pass over [x; x] with [labels; null labels]
        std::vector<int64_t> both(labels);
        both.insert(both.end(), n, classes);
        Tensor v = model.forward(concat({x, x}, 0), concat({t, t}, 0), both);
        Tensor vc = v.slice(0, 0, n), vu = v.slice(0, n, 2 * n);
        return add(vu, mul(sub(vc, vu), scale));  // v_u + w (v_c - v_u)
    };
}

}  // namespace rflow::trainers
