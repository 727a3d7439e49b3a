// sample_euler: the short entry point to the fixed-step Euler sampler on a uniform grid.
#include "rflow/samplers/euler.hpp"

#include "explicit_rk.hpp"
#include "rflow/error.hpp"

namespace rflow::samplers {

Tensor sample_euler(const VelocityField& v, const Tensor& x0, int steps, SampleStats* stats) {
    RFLOW_CHECK(steps >= 1, "sample_euler: steps must be >= 1, got " << steps);
    SamplerOptions options;
    options.steps = steps;
    SampleResult res = detail::run_fixed_step(detail::euler_tableau(), v, x0, options);
    if (stats) stats->nfe += static_cast<int>(res.nfe);
    return res.x;
}

}  // namespace rflow::samplers
