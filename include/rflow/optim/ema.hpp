// Exponential moving average of parameters (the weights usually sampled from after training).
#pragma once

#include <cstdint>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/optim/optimizer.hpp"
#include "rflow/tensor.hpp"

namespace rflow::optim {

/// Keeps shadow copies s of a list of parameters and, on update(), s = d s + (1 - d) p with
/// d = decay, or with warmup d = min(decay, (1 + n) / (10 + n)) after n earlier updates (the
/// schedule of TensorFlow's ExponentialMovingAverage and diffusers' EMAModel): the first updates
/// forget the initial weights quickly, so a short run's EMA is not mostly its initialisation.
/// Not copyable (a copy would share the shadow storage); movable.
class RFLOW_API Ema {
public:
    /// Shadows start as copies of `params` (detached, no gradient). Throws unless 0 <= decay <= 1.
    Ema(const std::vector<Tensor>& params, float decay, bool warmup = false);
    Ema(const Ema&) = delete;
    Ema& operator=(const Ema&) = delete;
    Ema(Ema&&) noexcept;
    Ema& operator=(Ema&&) noexcept;
    ~Ema();

    /// s = decay s + (1 - decay) p for each parameter (same count and shapes as at construction).
    void update(const std::vector<Tensor>& params);
    /// The averaged tensors, one per parameter.
    const std::vector<Tensor>& shadow() const { return shadow_; }
    /// Writes the shadows into `params` in place (e.g. before sampling or export).
    void copy_to(std::vector<Tensor>& params) const;

    float decay() const { return decay_; }
    bool warmup() const { return warmup_; }
    /// The d the next update() uses.
    float current_decay() const;
    void set_decay(float decay);
    int64_t num_updates() const { return updates_; }

    /// "ema.updates" (1 element, exact up to 2^24) and "ema.shadow.<i>"; copies.
    NamedTensors state() const;
    /// Restores state() output exactly; a missing key or a shape mismatch throws rflow::Error
    /// naming the key, before anything changes. Unused keys are ignored.
    void load_state(const NamedTensors& state);

private:
    std::vector<Tensor> shadow_;
    float decay_;
    bool warmup_ = false;
    int64_t updates_ = 0;
};

}  // namespace rflow::optim
