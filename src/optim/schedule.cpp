// Learning-rate schedules (constant, linear warmup + cosine decay) and applying them to groups.
#include "rflow/optim/schedule.hpp"

#include <cmath>

#include "rflow/error.hpp"

namespace rflow::optim {

LrSchedule::~LrSchedule() = default;

ConstantSchedule::ConstantSchedule(float value) : value_(value) {
    RFLOW_CHECK(std::isfinite(value) && value >= 0.f, "ConstantSchedule: value " << value);
}

float ConstantSchedule::factor(int64_t step) const {
    RFLOW_CHECK(step >= 0, "ConstantSchedule: step " << step << " < 0");
    return value_;
}

WarmupCosineSchedule::WarmupCosineSchedule(int64_t warmup_steps, int64_t total_steps,
                                           float min_factor)
    : warmup_(warmup_steps), total_(total_steps), min_(min_factor) {
    RFLOW_CHECK(warmup_steps >= 0 && warmup_steps < total_steps,
                "WarmupCosineSchedule: need 0 <= warmup_steps < total_steps, got warmup_steps "
                    << warmup_steps << ", total_steps " << total_steps);
    RFLOW_CHECK(min_factor >= 0.f && min_factor <= 1.f,
                "WarmupCosineSchedule: min_factor " << min_factor << " not in [0, 1]");
}

float WarmupCosineSchedule::factor(int64_t step) const {
    RFLOW_CHECK(step >= 0, "WarmupCosineSchedule: step " << step << " < 0");
    if (step < warmup_) return static_cast<float>(static_cast<double>(step) / warmup_);  // step / W
    if (step >= total_) return min_;
    // min + (1 - min) (1 + cos(pi (step - W) / (T - W))) / 2
    const double progress = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
    const double pi = 3.14159265358979323846;
    return static_cast<float>(min_ + (1.0 - min_) * 0.5 * (1.0 + std::cos(pi * progress)));
}

void apply_schedule(Optimizer& opt, const LrSchedule& schedule, int64_t step,
                    const std::vector<float>& base_lrs) {
    auto& groups = opt.groups();
    RFLOW_CHECK(base_lrs.size() == groups.size(), "apply_schedule: " << base_lrs.size()
                                                      << " base lrs for " << groups.size()
                                                      << " parameter groups");
    const float f = schedule.factor(step);
    for (size_t k = 0; k < groups.size(); ++k) groups[k].lr = base_lrs[k] * f;  // lr = base * factor
}

std::vector<float> group_lrs(const Optimizer& opt) {
    std::vector<float> lrs;
    for (const auto& g : opt.groups()) lrs.push_back(g.lr);
    return lrs;
}

}  // namespace rflow::optim
