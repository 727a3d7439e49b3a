// Module: parameter/buffer registry, dotted names, state dict load/save, device moves.
#include "rflow/nn/module.hpp"

#include <set>

#include "../core/tensor_impl.hpp"
#include "rflow/autograd.hpp"
#include "rflow/error.hpp"

namespace rflow::nn {

Tensor Module::forward(const Tensor&) {
    RFLOW_FAIL("this module has no one-input forward(); call its own forward signature");
}

static void check_name(const std::string& name) {
    RFLOW_CHECK(!name.empty() && name.find('.') == std::string::npos,
                "module member name '" << name << "' must be non-empty and contain no '.'");
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
    check_name(name);
    RFLOW_CHECK(t.defined(), "parameter '" << name << "' is undefined");
    t = t.detach().contiguous();
    t.requires_grad_(true);
    params_.emplace_back(name, t);
    return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
    check_name(name);
    buffers_.emplace_back(name, t.detach().contiguous());
    return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
    check_name(name);
    RFLOW_CHECK(m, "submodule '" << name << "' is null");
    children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool params, bool buffers) const {
    if (params)
        for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
    if (buffers)
        for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
    for (const auto& [n, c] : children_) c->collect(prefix + n + ".", out, params, buffers);
}

NamedTensors Module::named_parameters() const {
    NamedTensors out;
    collect("", out, true, false);
    return out;
}

std::vector<Tensor> Module::parameters() const {
    std::vector<Tensor> out;
    for (auto& [n, t] : named_parameters()) out.push_back(t);
    return out;
}

NamedTensors Module::named_buffers() const {
    NamedTensors out;
    collect("", out, false, true);
    return out;
}

NamedTensors Module::state_dict() const {
    NamedTensors out;
    collect("", out, true, true);
    return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
    std::map<std::string, Tensor> given(state.begin(), state.end());
    std::set<std::string> used;
    NoGradGuard ng;
    for (auto& [name, t] : state_dict()) {
        auto it = given.find(name);
        if (it == given.end()) {
            RFLOW_CHECK(!strict, "state dict has no entry '" << name << "'");
            continue;
        }
        RFLOW_CHECK(it->second.shape() == t.shape(), "state dict entry '" << name << "' has shape "
                                                                          << shape_str(it->second.shape())
                                                                          << ", the module expects " << shape_str(t.shape()));
        Tensor dst = t;
        dst.copy_(it->second.to(t.device()));
        used.insert(name);
    }
    if (strict)
        for (const auto& [name, t] : state)
            RFLOW_CHECK(used.count(name), "state dict entry '" << name << "' matches no parameter or buffer");
}

int64_t Module::num_parameters() const {
    int64_t n = 0;
    for (const Tensor& t : parameters()) n += t.numel();
    return n;
}

void Module::zero_grad() {
    for (Tensor t : parameters()) t.zero_grad();
}

void Module::train(bool on) {
    training_ = on;
    for (auto& [n, c] : children_) c->train(on);
}

void Module::to(Device device) {
    // In place, so the handles layers keep (weight_, bias_, ...) move with the registry.
    for (auto& [n, t] : params_) move_storage(t, device);
    for (auto& [n, t] : buffers_) move_storage(t, device);
    for (auto& [n, c] : children_) c->to(device);
}

Device Module::device() const {
    const std::vector<Tensor> p = parameters();
    return p.empty() ? Device::cpu : p.front().device();
}

std::vector<std::string> Module::child_names() const {
    std::vector<std::string> out;
    for (const auto& [n, c] : children_) out.push_back(n);
    return out;
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
    for (const auto& [n, c] : children_)
        if (n == name) return c;
    RFLOW_FAIL("no submodule named '" << name << "'");
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
    std::vector<std::pair<std::string, Module*>> out{{"", this}};
    for (const auto& [name, child] : children_)
        for (auto& [sub, m] : child->named_modules()) out.emplace_back(sub.empty() ? name : name + "." + sub, m);
    return out;
}

void Module::attach_child(const std::string& name, std::shared_ptr<Module> m) {
    for (const auto& c : children_) RFLOW_CHECK(c.first != name, "module already has a child '" << name << "'");
    add_child(name, std::move(m));
}

void Module::detach_child(const std::string& name) {
    for (auto it = children_.begin(); it != children_.end(); ++it)
        if (it->first == name) {
            children_.erase(it);
            return;
        }
    RFLOW_FAIL("module has no child '" << name << "'");
}

}  // namespace rflow::nn
