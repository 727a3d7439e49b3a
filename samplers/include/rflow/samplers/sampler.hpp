// The Sampler interface: ODE solvers for dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data),
// their options and result, and the registry that makes them by name.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::samplers {

/// The only thing samplers know about a model: v(x, t) with x [N, ...] and t [N] (one time per
/// row, t = 0 noise, t = 1 data). It must return a tensor of x's shape on x's device. The rows a
/// sampler passes are not always the whole batch: adaptive per-sample stepping calls v on the
/// rows still integrating only, so v must treat rows independently.
using VelocityField = std::function<Tensor(const Tensor& x, const Tensor& t)>;

/// What the progress callback sees after each accepted step.
struct StepInfo {
    /// Callbacks so far, 1 after the first accepted step. Per-sample adaptive stepping calls back
    /// once per iteration in which at least one row accepted its step.
    int64_t step = 0;
    int64_t total_steps = -1;      ///< grid steps of a fixed-step run; -1 when adaptive
    double t = 0.0;                ///< time reached (per-sample mode: the smallest over the rows)
    Tensor times;                  ///< [N] each row's current time
    Tensor x;                      ///< the current state [N, ...]; do not modify it in place
    int64_t nfe = 0;               ///< calls to v so far
    int64_t row_evaluations = 0;   ///< rows evaluated by v so far (summed over calls)
};

/// Called after each accepted step; returning false stops sampling (SampleResult::stopped).
using StepCallback = std::function<bool(const StepInfo&)>;

/// Options shared by every sampler; each uses the fields that apply to it.
struct SamplerOptions {
    // ---- fixed-step samplers (and dopri5 with adaptive = false) ----
    int64_t steps = 50;            ///< grid steps (ignored when `times` is given)
    std::string grid = "uniform";  ///< time grid by name: "uniform" or "shifted" (time_grid.hpp)
    double shift = 1.0;            ///< s of the "shifted" grid: t' = s t / (1 + (s - 1) t)
    /// Explicit grid 0 = t_0 < t_1 < ... < t_K = 1; overrides steps/grid/shift when non-empty.
    std::vector<double> times;

    // ---- adaptive samplers (dopri5) ----
    bool adaptive = true;          ///< false: dopri5 runs as a fixed-step 5th-order method on the grid
    double rtol = 1e-5;            ///< relative tolerance
    double atol = 1e-5;            ///< absolute tolerance
    /// true: every row has its own step size and stops exactly at t = 1, and v is evaluated on
    /// the rows still integrating only. false: one step size for the batch, accepted when the
    /// largest row error is <= 1.
    bool per_sample = true;
    /// Budget of attempted steps (iterations of the batch). When it runs out the sampler returns
    /// the last accepted state with budget_exhausted set instead of throwing. (A row whose step
    /// size underflows below 1e-10, e.g. because v returned NaN or Inf, throws rflow::Error.)
    int64_t max_steps = 10000;
    double initial_step = 0.0;     ///< first step size; <= 0 picks it by Hairer's heuristic
    double safety = 0.9;           ///< step-size safety factor
    double min_factor = 0.2;       ///< the step shrinks by at most this factor per attempt
    double max_factor = 10.0;      ///< and grows by at most this factor per accepted step

    // ---- all samplers ----
    bool record_trajectory = false;  ///< keep every state (SampleResult::trajectory)
    StepCallback callback;           ///< progress and cancellation; may be empty
};

/// What a sampler returns.
struct SampleResult {
    Tensor x;                       ///< the final state [N, ...]
    Tensor t;                       ///< [N] the time each row reached (1 unless cut short)
    int64_t nfe = 0;                ///< calls to v (each call may cover fewer rows than N)
    int64_t row_evaluations = 0;    ///< rows evaluated by v, summed over the calls
    /// Accepted and rejected steps. Per-sample adaptive stepping counts each row's steps (so it
    /// is N times the batch count when all rows behave alike); otherwise steps of the batch.
    int64_t accepted = 0, rejected = 0;
    int64_t iterations = 0;         ///< attempted steps of the batch (what max_steps bounds)
    bool budget_exhausted = false;  ///< max_steps ran out: x is the last accepted state, t < 1
    bool stopped = false;           ///< the callback returned false before t = 1 (x is short of it)
    /// With record_trajectory: the states from x0 to the final x. Fixed-step samplers record
    /// every grid point (K + 1 states for K steps); dopri5 records x0 and the state after every
    /// iteration that accepted a step (in per-sample mode rows have different times then).
    std::vector<Tensor> trajectory;
    std::vector<Tensor> trajectory_times;  ///< [N] each row's time, one per trajectory state
};

/// An ODE solver over a velocity field. Stateless: one instance may sample many times, also from
/// several threads. Ops are recorded for autograd only if the caller's grad mode is on (wrap
/// plain sampling in NoGradGuard). x may have any rank [N, ...] and live on any device.
class RFLOW_API Sampler {
public:
    virtual ~Sampler();
    virtual std::string name() const = 0;
    /// Order of accuracy of the global error (euler 1, midpoint/heun 2, rk4 4, dopri5 5).
    virtual int order() const = 0;
    virtual bool adaptive() const = 0;  ///< true when it chooses its own steps
    /// Integrates dx/dt = v(x, t) from x(0) = x0 to t = 1.
    virtual SampleResult sample(const VelocityField& v, const Tensor& x0,
                                const SamplerOptions& options = {}) const = 0;
};

/// A sampler by name; an unknown name throws rflow::Error listing the known ones.
RFLOW_API std::unique_ptr<Sampler> make_sampler(const std::string& name);
/// Registered names: "euler", "midpoint", "heun", "rk4", "dopri5".
RFLOW_API std::vector<std::string> sampler_names();
/// make_sampler(name)->sample(v, x0, options).
RFLOW_API SampleResult sample(const std::string& name, const VelocityField& v, const Tensor& x0,
                              const SamplerOptions& options = {});

}  // namespace rflow::samplers
