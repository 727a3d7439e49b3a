// Fixed-step Euler sampler over a velocity callback.
#include "rflow/samplers/euler.hpp"

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::samplers {

Tensor sample_euler(const VelocityField& v, const Tensor& x0, int steps, SampleStats* stats) {
    RFLOW_CHECK(steps >= 1, "sample_euler: steps must be >= 1, got " << steps);
    RFLOW_CHECK(x0.dim() >= 1, "sample_euler: x0 needs a batch axis");
    const float h = 1.f / static_cast<float>(steps);
    Tensor x = x0;
    for (int k = 0; k < steps; ++k) {
        Tensor t = Tensor::full({x.size(0)}, static_cast<float>(k) * h, x.device());
        Tensor vel = v(x, t);
        RFLOW_CHECK(vel.shape() == x.shape(), "velocity field returned " << shape_str(vel.shape()) << " for x "
                                                                         << shape_str(x.shape()));
        x = add(x, mul(vel, h));
    }
    if (stats) stats->nfe += steps;
    return x;
}

}  // namespace rflow::samplers
