// Classifier-free guidance as a velocity callback for the samplers:
//   v = v_uncond + w (v_cond - v_uncond),
// w = 0 unconditional, w = 1 conditional, w > 1 guided. Conditional and unconditional velocities
// are computed in one batched forward pass of 2N rows.
#pragma once

#include <functional>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/nn/velocity_model.hpp"
#include "rflow/samplers/sampler.hpp"

namespace rflow::trainers {

/// A velocity field for sampling `labels.size()` rows of a class-conditional model with guidance
/// scale w. The field must be called on the whole batch (samplers with per-sample adaptive
/// stepping call it on subsets: use batch-wide stepping), else an Error says so.
RFLOW_API samplers::VelocityField guided_velocity(nn::VelocityModel& model, std::vector<int64_t> labels, float scale);

/// The same guidance for any kind of condition (labels, prompts): `velocity(x, t, conditional)` runs
/// the model with row i conditioned when conditional[i] is true and with the null condition when it
/// is false. w = 1 and w = 0 take one pass over the N rows; other w one pass over 2N rows.
using MixedVelocity = std::function<Tensor(const Tensor& x, const Tensor& t, const std::vector<bool>& conditional)>;
RFLOW_API samplers::VelocityField guided_velocity(MixedVelocity velocity, float scale);

}  // namespace rflow::trainers
