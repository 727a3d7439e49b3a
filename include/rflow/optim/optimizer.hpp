// Optimizer base: parameter groups with their own lr / weight decay, the per-parameter state
// (buffers and step counts) every optimizer keeps, zero_grad, and checkpoint save / restore.
//
// Concrete optimizers (sgd.hpp, adam.hpp, rmsprop.hpp) only declare their buffer names and the
// fused per-parameter update; the base class owns the state, so state() / load_state() behave
// the same for all of them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::optim {

/// A set of parameters updated with the same learning rate and weight decay. Groups are how
/// LoRA+ gives its A and B matrices different lrs and how schedules set lrs (see schedule.hpp).
/// `name` labels the group's state keys (its position is used when the name is empty).
struct ParamGroup {
    std::string name;
    std::vector<Tensor> params;  ///< contiguous leaf tensors, updated in place
    float lr;
    float weight_decay = 0.f;
};

/// Named tensors, as state() returns them and load_state() takes them (checkpoint order).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Base class of all optimizers. Not copyable (a copy would share the state buffers).
///
/// Updates run outside autograd and in place on each parameter's storage. Parameters whose grad is
/// undefined are skipped by step() (their state and step count are left untouched, as in PyTorch).
/// A group's lr and weight_decay are read at every step, so changing them between steps takes
/// effect at the next step. Parameters may be appended to groups (or groups added) between steps:
/// their state starts at zero, as for a fresh optimizer.
class RFLOW_API Optimizer {
public:
    virtual ~Optimizer();
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;

    /// One update of every parameter that has a gradient; increments steps_taken().
    virtual void step() = 0;
    /// Drops every parameter's accumulated gradient (Tensor::zero_grad()).
    void zero_grad();

    std::vector<ParamGroup>& groups() { return groups_; }
    const std::vector<ParamGroup>& groups() const { return groups_; }
    /// All parameters of all groups, in group order (e.g. for clip_grad_norm).
    std::vector<Tensor> params() const;
    /// Number of step() calls so far (restored by load_state()).
    int64_t steps_taken() const { return steps_; }
    /// Short lower-case name ("sgd", "adam", "adamw", "rmsprop"): the prefix of every state key.
    const std::string& kind() const { return kind_; }

    /// The optimizer's state as named tensors, for a checkpoint. Keys (stable across versions):
    ///   "<kind>.step"                     1 element: steps_taken()
    ///   "<kind>.param_step.<group>.<i>"   1 element: updates applied to parameter i of the group
    ///   "<kind>.<buffer>.<group>.<i>"     the buffer (e.g. "adam.m.0.3", "adam.v.0.3"), param shape
    /// where <group> is the group's name, or its position when the name is empty. Step counts are
    /// stored as float32 and are exact up to 2^24 steps (an Error beyond). The tensors are copies.
    virtual NamedTensors state() const;
    /// Restores state() output exactly, so training resumes bit for bit. All keys are checked
    /// before anything is changed: a missing key or a shape mismatch throws rflow::Error naming the
    /// key, and leaves the optimizer as it was. Keys this optimizer does not use are ignored.
    virtual void load_state(const NamedTensors& state);

protected:
    /// `kind` prefixes state keys; `buffers` names the per-parameter state buffers (each shaped
    /// like its parameter, zero-initialised). Checks the groups (defined, contiguous, no parameter
    /// twice, lr and weight decay finite and >= 0).
    Optimizer(std::vector<ParamGroup> groups, std::string kind, std::vector<std::string> buffers);

    /// What an update kernel sees for one parameter: contiguous float32 host arrays of length n.
    struct Update {
        const ParamGroup& group;
        int64_t step;        ///< this parameter's update count, including this one (1 at the first)
        float* param;        ///< updated in place
        const float* grad;
        float* const* buf;   ///< the state buffers, in the order given to the constructor
        int64_t n;
    };
    using UpdateFn = std::function<void(const Update&)>;

    /// The same update written with element-wise tensor ops, for parameters on another device:
    /// param and the buffers are updated in place (copy_), grad is read.
    struct DeviceUpdate {
        const ParamGroup& group;
        int64_t step;
        Tensor& param;
        const Tensor& grad;
        std::vector<Tensor>& buf;
    };
    using DeviceUpdateFn = std::function<void(const DeviceUpdate&)>;

    /// Runs `fn` on every parameter with a defined grad (under NoGradGuard), then counts a step.
    /// CPU parameters are updated in place by `fn`; parameters on another device by `device_fn`
    /// where given, else staged through host copies for `fn` (correct, slower).
    void apply_update(const UpdateFn& fn, const DeviceUpdateFn& device_fn = nullptr);

private:
    struct Slot {
        std::vector<Tensor> buffers;
        int64_t step = 0;
    };
    void sync_state() const;
    std::string group_label(size_t g) const;

    std::vector<ParamGroup> groups_;
    std::string kind_;
    std::vector<std::string> buffer_names_;
    mutable std::vector<std::vector<Slot>> slots_;  // [group][param], grown by sync_state()
    int64_t steps_ = 0;
};

/// Names accepted by make_optimizer(): "sgd", "adam", "adamw", "rmsprop".
RFLOW_API std::vector<std::string> optimizer_names();
/// The optimizer called `name`, with its default options, over `groups` (each group's lr and
/// weight_decay apply). Throws rflow::Error naming the unknown name and the known ones.
RFLOW_API std::unique_ptr<Optimizer> make_optimizer(const std::string& name,
                                                    std::vector<ParamGroup> groups);

}  // namespace rflow::optim
