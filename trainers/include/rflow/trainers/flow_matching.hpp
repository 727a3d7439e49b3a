// Flow-matching training (1-RF, reflow and k-step distillation share it): regress
// v_theta(x_t, t) onto x1 - x0.
//
//   (x0, x1) ~ coupling (noise at t = 0, data at t = 1), t ~ time sampler,
//   x_t = (1 - t) x0 + t x1,   L = mean || v_theta(x_t, t) - (x1 - x0) ||^2.
//
// 1-RF: independent (or minibatch-OT) coupling of noise and data, uniform t. Reflow: pairs
// (z0, z1 = ODE(z0)) from the previous flow. Distillation into k steps: the same pairs with t on
// the grid {0, 1/k, ...}, so a k-step Euler sampler follows the straight line to z1.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rflow/error.hpp"
#include "rflow/export.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/nn/velocity_model.hpp"
#include "rflow/optim/ema.hpp"
#include "rflow/optim/optimizer.hpp"
#include "rflow/philox.hpp"
#include "rflow/trainers/coupling.hpp"
#include "rflow/trainers/time_sampler.hpp"

namespace rflow::trainers {

struct FlowMatchingConfig {
    int64_t steps = 2000;
    int64_t batch = 1024;
    uint64_t seed = 0;                  ///< seeds pairs and times (stream 1)
    float grad_clip = 0.f;              ///< global-norm clipping; 0 = off
    std::string time_sampler = "uniform";
    TimeSamplerOptions time_options;
    float ema_decay = 0.f;              ///< 0 = no EMA of the weights
    bool ema_warmup = false;            ///< EMA decay min(ema_decay, (1 + n) / (10 + n)), see optim::Ema
    float label_dropout = 0.f;          ///< class-conditional: P(label -> null label), for CFG
};

/// What the progress callback sees after each step; return false to stop early.
struct TrainProgress {
    int64_t step = 0, total = 0;
    double elapsed_s = 0;
    float loss = 0;
};
using ProgressFn = std::function<bool(const TrainProgress&)>;
/// An extra term added to each step's loss, given that step's batch (e.g. the adversarial term of
/// trainers/adversarial.hpp that sharpens a distilled one-step flow). It may train its own networks.
using ExtraLoss = std::function<Tensor(const TrainingBatch& batch)>;

/// Training diverged: a NaN or infinity in the loss, a gradient or the updated weights.
class RFLOW_API NonFiniteError : public Error {
public:
    explicit NonFiniteError(const std::string& what) : Error(what) {}
};

/// True when every element of every defined tensor is finite (one device reduction, no copy).
RFLOW_API bool all_finite(const std::vector<Tensor>& tensors);

class RFLOW_API FlowMatchingTrainer {
public:
    FlowMatchingTrainer(nn::VelocityModel& model, optim::Optimizer& optimizer, PairSource pairs,
                        FlowMatchingConfig cfg);
    /// Independent coupling of N(0, I) noise with the data source (1-RF).
    FlowMatchingTrainer(nn::VelocityModel& model, optim::Optimizer& optimizer, DataSource data,
                        FlowMatchingConfig cfg);
    ~FlowMatchingTrainer();

    /// One optimisation step; returns the loss. Throws NonFiniteError (keeping the parameters of
    /// the previous step) if the loss or a gradient is not finite, and NonFiniteError (after the
    /// update: save no checkpoint then) if the updated weights are not.
    float step();
    /// Adds `extra(batch)` to every following step's loss (null removes it).
    void set_extra_loss(ExtraLoss extra) { extra_ = std::move(extra); }
    /// Runs until cfg.steps steps have been taken in total (resumes from step()).
    void train(const ProgressFn& progress = nullptr);

    int64_t steps_done() const { return step_; }
    const FlowMatchingConfig& config() const { return cfg_; }
    const std::vector<float>& losses() const { return losses_; }
    Generator& generator() { return gen_; }
    /// The EMA of the weights, or null when cfg.ema_decay == 0.
    const optim::Ema* ema() const { return ema_.get(); }

    /// Model, optimizer (+ EMA, keys "ema.*"), RNG and step: everything to resume bit for bit.
    io::Checkpoint checkpoint(const std::string& config_json = "") const;
    void restore(const io::Checkpoint& ckpt);
    /// The step restore() resumed from, or -1 when this run started fresh.
    int64_t resumed_from() const { return resumed_from_; }

private:
    nn::VelocityModel& model_;
    optim::Optimizer& opt_;
    PairSource pairs_;
    ExtraLoss extra_;
    FlowMatchingConfig cfg_;
    std::unique_ptr<TimeSampler> times_;
    std::unique_ptr<optim::Ema> ema_;
    Generator gen_;
    int64_t step_ = 0;
    int64_t resumed_from_ = -1;
    std::vector<float> losses_;
};

/// The flow-matching loss for one batch (exposed for tests and custom loops).
RFLOW_API Tensor flow_matching_loss(nn::VelocityModel& model, const Tensor& x0, const Tensor& x1, const Tensor& t,
                                    const std::vector<int64_t>& labels = {});

}  // namespace rflow::trainers
