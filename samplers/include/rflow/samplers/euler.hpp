// Fixed-step Euler integration of dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data).
#pragma once

#include <functional>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::samplers {

/// The only thing samplers know about a model: v(x, t) with x [N, ...] and t [N].
using VelocityField = std::function<Tensor(const Tensor& x, const Tensor& t)>;

struct SampleStats {
    int nfe = 0;  ///< velocity evaluations
};

/// x_{k+1} = x_k + h v(x_k, t_k), t_k = k h, h = 1 / steps. Recording follows the caller's grad
/// mode (wrap in NoGradGuard for plain sampling).
RFLOW_API Tensor sample_euler(const VelocityField& v, const Tensor& x0, int steps, SampleStats* stats = nullptr);

}  // namespace rflow::samplers
