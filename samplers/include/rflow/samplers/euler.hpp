// Fixed-step Euler integration of dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data): the short
// entry point. The same method is make_sampler("euler") with every option (grids, trajectory).
#pragma once

#include "rflow/export.hpp"
#include "rflow/samplers/sampler.hpp"
#include "rflow/tensor.hpp"

namespace rflow::samplers {

struct SampleStats {
    int nfe = 0;  ///< velocity evaluations (added to, so one SampleStats can sum several runs)
};

/// x_{k+1} = x_k + h v(x_k, t_k), t_k = k h, h = 1 / steps. Recording follows the caller's grad
/// mode (wrap in NoGradGuard for plain sampling). Throws rflow::Error unless steps >= 1.
RFLOW_API Tensor sample_euler(const VelocityField& v, const Tensor& x0, int steps, SampleStats* stats = nullptr);

}  // namespace rflow::samplers
