// Optimizer base: group checks, per-parameter state, the update driver, state save / restore.
#include "rflow/optim/optimizer.hpp"

#include <cmath>
#include <unordered_set>

#include "optim_util.hpp"
#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/optim/adam.hpp"
#include "rflow/optim/rmsprop.hpp"
#include "rflow/optim/sgd.hpp"

namespace rflow::optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::string kind,
                     std::vector<std::string> buffers)
    : groups_(std::move(groups)), kind_(std::move(kind)), buffer_names_(std::move(buffers)) {
    sync_state();
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
    for (auto& g : groups_)
        for (auto& p : g.params) p.zero_grad();
}

std::vector<Tensor> Optimizer::params() const {
    std::vector<Tensor> out;
    for (const auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
    return out;
}

std::string Optimizer::group_label(size_t g) const {
    return groups_[g].name.empty() ? std::to_string(g) : groups_[g].name;
}

// Checks the groups and grows / validates the state so there is one slot per parameter.
void Optimizer::sync_state() const {
    std::unordered_set<const void*> seen;
    std::unordered_set<std::string> labels;
    slots_.resize(groups_.size());
    for (size_t g = 0; g < groups_.size(); ++g) {
        const ParamGroup& grp = groups_[g];
        const std::string label = group_label(g);
        RFLOW_CHECK(labels.insert(label).second,
                    kind_ << ": two parameter groups are labelled '" << label << "'");
        RFLOW_CHECK(std::isfinite(grp.lr) && grp.lr >= 0.f,
                    kind_ << ": group '" << label << "' has lr " << grp.lr);
        RFLOW_CHECK(std::isfinite(grp.weight_decay) && grp.weight_decay >= 0.f,
                    kind_ << ": group '" << label << "' has weight_decay " << grp.weight_decay);
        auto& slots = slots_[g];
        slots.resize(grp.params.size());
        for (size_t i = 0; i < grp.params.size(); ++i) {
            const Tensor& p = grp.params[i];
            RFLOW_CHECK(p.defined(), kind_ << ": parameter " << i << " of group '" << label
                                           << "' is undefined");
            RFLOW_CHECK(p.is_contiguous(), kind_ << ": parameter " << i << " of group '" << label
                                                 << "' is not contiguous");
            RFLOW_CHECK(seen.insert(p.impl()).second,
                        kind_ << ": parameter " << i << " of group '" << label
                              << "' appears more than once");
            Slot& s = slots[i];
            if (s.buffers.empty() && !buffer_names_.empty()) {
                for (size_t b = 0; b < buffer_names_.size(); ++b)
                    s.buffers.push_back(Tensor::zeros(p.shape(), p.device()));
            }
            for (size_t b = 0; b < s.buffers.size(); ++b) {
                RFLOW_CHECK(s.buffers[b].shape() == p.shape() && s.buffers[b].device() == p.device(),
                            kind_ << ": parameter " << i << " of group '" << label
                                  << "' changed shape or device since its state was made ("
                                  << shape_str(s.buffers[b].shape()) << " -> "
                                  << shape_str(p.shape()) << ")");
            }
        }
    }
}

void Optimizer::apply_update(const UpdateFn& fn, const DeviceUpdateFn& device_fn) {
    sync_state();
    NoGradGuard no_grad;
    std::vector<float*> bufs(buffer_names_.size());
    std::vector<Tensor> host_bufs(buffer_names_.size());
    for (size_t g = 0; g < groups_.size(); ++g) {
        const ParamGroup& grp = groups_[g];
        for (size_t i = 0; i < grp.params.size(); ++i) {
            Tensor p = grp.params[i];
            Tensor grad = p.grad();
            if (!grad.defined()) continue;
            RFLOW_CHECK(grad.shape() == p.shape() && grad.device() == p.device(),
                        kind_ << ": grad of parameter " << i << " of group '" << group_label(g)
                              << "' has shape " << shape_str(grad.shape()) << " on "
                              << device_name(grad.device()) << ", parameter "
                              << shape_str(p.shape()) << " on " << device_name(p.device()));
            Slot& s = slots_[g][i];
            s.step += 1;
            if (p.device() == Device::cpu) {
                grad = grad.contiguous();
                for (size_t b = 0; b < bufs.size(); ++b) bufs[b] = s.buffers[b].data();
                fn(Update{grp, s.step, p.data(), grad.data(), bufs.data(), p.numel()});
            } else if (device_fn) {
                device_fn(DeviceUpdate{grp, s.step, p, grad, s.buffers});
            } else {
                // Staged through host copies.
                Tensor hp = p.to(Device::cpu).clone();
                Tensor hg = grad.to(Device::cpu).contiguous();
                for (size_t b = 0; b < bufs.size(); ++b) {
                    host_bufs[b] = s.buffers[b].to(Device::cpu).clone();
                    bufs[b] = host_bufs[b].data();
                }
                fn(Update{grp, s.step, hp.data(), hg.data(), bufs.data(), p.numel()});
                p.copy_(hp.to(p.device()));
                for (size_t b = 0; b < bufs.size(); ++b)
                    s.buffers[b].copy_(host_bufs[b].to(p.device()));
            }
        }
    }
    ++steps_;
}

NamedTensors Optimizer::state() const {
    sync_state();
    NoGradGuard no_grad;
    NamedTensors out;
    out.emplace_back(kind_ + ".step", detail::count_tensor(steps_, kind_ + ".step"));
    for (size_t g = 0; g < groups_.size(); ++g) {
        const std::string label = group_label(g);
        for (size_t i = 0; i < slots_[g].size(); ++i) {
            const Slot& s = slots_[g][i];
            const std::string suffix = "." + label + "." + std::to_string(i);
            const std::string step_key = kind_ + ".param_step" + suffix;
            out.emplace_back(step_key, detail::count_tensor(s.step, step_key));
            for (size_t b = 0; b < buffer_names_.size(); ++b)
                out.emplace_back(kind_ + "." + buffer_names_[b] + suffix, s.buffers[b].clone());
        }
    }
    return out;
}

void Optimizer::load_state(const NamedTensors& state) {
    sync_state();
    NoGradGuard no_grad;
    const auto map = detail::index_state(state);
    // Check everything first, so a failure changes nothing.
    const int64_t steps = detail::find_count(map, kind_ + ".step");
    std::vector<std::vector<int64_t>> param_steps(groups_.size());
    for (size_t g = 0; g < groups_.size(); ++g) {
        const std::string label = group_label(g);
        for (size_t i = 0; i < slots_[g].size(); ++i) {
            const std::string suffix = "." + label + "." + std::to_string(i);
            param_steps[g].push_back(detail::find_count(map, kind_ + ".param_step" + suffix));
            for (size_t b = 0; b < buffer_names_.size(); ++b)
                detail::find_state(map, kind_ + "." + buffer_names_[b] + suffix,
                                   groups_[g].params[i].shape());
        }
    }
    for (size_t g = 0; g < groups_.size(); ++g) {
        const std::string label = group_label(g);
        for (size_t i = 0; i < slots_[g].size(); ++i) {
            Slot& s = slots_[g][i];
            s.step = param_steps[g][i];
            const std::string suffix = "." + label + "." + std::to_string(i);
            for (size_t b = 0; b < buffer_names_.size(); ++b) {
                const Tensor& src = map.at(kind_ + "." + buffer_names_[b] + suffix);
                s.buffers[b].copy_(src.to(s.buffers[b].device()));
            }
        }
    }
    steps_ = steps;
}

std::vector<std::string> optimizer_names() { return {"sgd", "adam", "adamw", "rmsprop"}; }

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<ParamGroup> groups) {
    if (name == "sgd") return std::make_unique<Sgd>(std::move(groups));
    if (name == "adam") return std::make_unique<Adam>(std::move(groups));
    if (name == "adamw") return std::make_unique<AdamW>(std::move(groups));
    if (name == "rmsprop") return std::make_unique<RmsProp>(std::move(groups));
    std::string known;
    for (const auto& n : optimizer_names()) known += (known.empty() ? "" : ", ") + n;
    RFLOW_FAIL("unknown optimizer '" << name << "' (known: " << known << ")");
}

}  // namespace rflow::optim
