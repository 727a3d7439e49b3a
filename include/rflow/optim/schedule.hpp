// Learning-rate schedules: a factor per step that multiplies each group's base lr.
#pragma once

#include <cstdint>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/optim/optimizer.hpp"

namespace rflow::optim {

/// A learning-rate multiplier as a function of the step index (0 before the first update).
class RFLOW_API LrSchedule {
public:
    virtual ~LrSchedule();
    /// The factor for the update made after `step` earlier updates; throws for step < 0.
    virtual float factor(int64_t step) const = 0;
};

/// factor = value at every step (1 by default).
class RFLOW_API ConstantSchedule : public LrSchedule {
public:
    explicit ConstantSchedule(float value = 1.f);
    float factor(int64_t step) const override;

private:
    float value_;
};

/// Linear warmup from 0 (step 0) to 1 (step warmup_steps), then half a cosine down to min_factor
/// at total_steps, and min_factor after:
///   step < W:        step / W
///   W <= step <= T:  min + (1 - min) (1 + cos(pi (step - W) / (T - W))) / 2
///   step > T:        min
/// Throws rflow::Error unless 0 <= warmup_steps < total_steps and 0 <= min_factor <= 1.
class RFLOW_API WarmupCosineSchedule : public LrSchedule {
public:
    WarmupCosineSchedule(int64_t warmup_steps, int64_t total_steps, float min_factor = 0.f);
    float factor(int64_t step) const override;

private:
    int64_t warmup_, total_;
    float min_;
};

/// Sets groups[k].lr = base_lrs[k] * schedule.factor(step) for every group. Call it before each
/// step() with step = opt.steps_taken(). Throws unless there is one base lr per group.
RFLOW_API void apply_schedule(Optimizer& opt, const LrSchedule& schedule, int64_t step,
                              const std::vector<float>& base_lrs);

/// The current lr of each group (take it once, before the first apply_schedule, as base_lrs).
RFLOW_API std::vector<float> group_lrs(const Optimizer& opt);

}  // namespace rflow::optim
