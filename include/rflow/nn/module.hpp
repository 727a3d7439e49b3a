// Module: a named tree of parameters and submodules with dotted names and a state dict.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Base of every layer. Parameters are leaf tensors that require grad; buffers are saved in the
/// state dict but not trained. Names are dotted paths ("net.0.weight"), as in PyTorch.
class RFLOW_API Module {
public:
    virtual ~Module() = default;

    /// One-input forward, for modules that have one (Sequential chains these).
    virtual Tensor forward(const Tensor& x);

    NamedTensors named_parameters() const;
    std::vector<Tensor> parameters() const;
    NamedTensors named_buffers() const;
    /// Parameters and buffers by dotted name.
    NamedTensors state_dict() const;
    /// Copies values in place. strict: every key of the module must be present and no extra
    /// key allowed; shapes must match. Errors name the key.
    void load_state_dict(const NamedTensors& state, bool strict = true);
    int64_t num_parameters() const;
    void zero_grad();
    void train(bool on = true);
    void eval() { train(false); }
    bool is_training() const { return training_; }
    /// Moves parameters and buffers to a device (in place: the module keeps its handles).
    void to(Device device);
    /// Where the parameters live (the first parameter's device; cpu for a module without any).
    Device device() const;
    /// Names of direct children, in registration order.
    std::vector<std::string> child_names() const;
    std::shared_ptr<Module> child(const std::string& name) const;
    /// Every module of the tree with its dotted name ("" for this one), depth first.
    std::vector<std::pair<std::string, Module*>> named_modules();
    /// Adds a child after construction (adapters such as LoRA attach their factors this way);
    /// Error if the name is taken.
    void attach_child(const std::string& name, std::shared_ptr<Module> m);
    /// Removes a child added by attach_child (or any child); Error naming it if absent.
    void detach_child(const std::string& name);

protected:
    Tensor& register_parameter(const std::string& name, Tensor t);
    Tensor& register_buffer(const std::string& name, Tensor t);
    template <class M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
        add_child(name, m);
        return m;
    }

private:
    void add_child(const std::string& name, std::shared_ptr<Module> m);
    void collect(const std::string& prefix, NamedTensors& out, bool params, bool buffers) const;

    std::vector<std::pair<std::string, Tensor>> params_;
    std::vector<std::pair<std::string, Tensor>> buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
    bool training_ = true;
};

}  // namespace rflow::nn
