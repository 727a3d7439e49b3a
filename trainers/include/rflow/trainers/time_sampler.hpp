// Time samplers for flow-matching training, chosen by name from a registry:
//   "uniform"       t ~ U[0, 1]
//   "logit-normal"  t = sigmoid(m + s n), n ~ N(0, 1)  (SD3-style; mass in the middle)
//   "grid"          t uniform on {0, 1/k, ..., (k-1)/k}: k-step distillation trains exactly the
//                   times a k-step Euler sampler visits
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"

namespace rflow::trainers {

struct TimeSamplerOptions {
    float logit_mean = 0.f;  ///< m of logit-normal
    float logit_std = 1.f;   ///< s of logit-normal
    int64_t grid_steps = 1;  ///< k of grid
};

class RFLOW_API TimeSampler {
public:
    virtual ~TimeSampler() = default;
    /// n times in [0, 1], drawn from `gen`.
    virtual Tensor sample(int64_t n, Generator& gen) const = 0;
    virtual std::string name() const = 0;
};

RFLOW_API std::unique_ptr<TimeSampler> make_time_sampler(const std::string& name,
                                                         const TimeSamplerOptions& options = {});
RFLOW_API std::vector<std::string> time_sampler_names();

}  // namespace rflow::trainers
