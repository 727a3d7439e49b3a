// Flow-matching (1-rectified-flow) training: regress v_theta(x_t, t) onto x1 - x0.
//
//   x0 ~ N(0, I) (noise, t = 0), x1 ~ data (t = 1), t ~ U[0, 1],
//   x_t = (1 - t) x0 + t x1,   L = mean || v_theta(x_t, t) - (x1 - x0) ||^2.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/nn/velocity_model.hpp"
#include "rflow/optim/optimizer.hpp"
#include "rflow/philox.hpp"

namespace rflow::trainers {

/// Draws n data points x1 from the generator.
using DataSource = std::function<Tensor(int64_t n, Generator& gen)>;

struct FlowMatchingConfig {
    int64_t steps = 2000;
    int64_t batch = 1024;
    uint64_t seed = 0;        ///< seeds the per-step noise, times and data (stream 1)
    float grad_clip = 0.f;    ///< global-norm clipping; 0 = off
};

/// What the progress callback sees after each step; return false to stop early.
struct TrainProgress {
    int64_t step = 0, total = 0;
    double elapsed_s = 0;
    float loss = 0;
};
using ProgressFn = std::function<bool(const TrainProgress&)>;

class RFLOW_API FlowMatchingTrainer {
public:
    FlowMatchingTrainer(nn::VelocityModel& model, optim::Optimizer& optimizer, DataSource data,
                        FlowMatchingConfig cfg);

    /// One optimisation step; returns the loss. Throws (keeping the parameters of the previous
    /// step) if the loss or a gradient is not finite.
    float step();
    /// Runs until cfg.steps steps have been taken in total (resumes from step()).
    void train(const ProgressFn& progress = nullptr);

    int64_t steps_done() const { return step_; }
    const std::vector<float>& losses() const { return losses_; }
    Generator& generator() { return gen_; }

    /// Model, optimizer, RNG and step: everything needed to resume bit for bit.
    io::Checkpoint checkpoint(const std::string& config_json = "") const;
    void restore(const io::Checkpoint& ckpt);

private:
    nn::VelocityModel& model_;
    optim::Optimizer& opt_;
    DataSource data_;
    FlowMatchingConfig cfg_;
    Generator gen_;
    int64_t step_ = 0;
    std::vector<float> losses_;
};

/// The flow-matching loss for one batch (exposed for tests and custom loops).
RFLOW_API Tensor flow_matching_loss(nn::VelocityModel& model, const Tensor& x0, const Tensor& x1, const Tensor& t);

}  // namespace rflow::trainers
