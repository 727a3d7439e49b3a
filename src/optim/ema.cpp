// Exponential moving average of parameters, with checkpoint save / restore.
#include "rflow/optim/ema.hpp"

#include <algorithm>
#include <cmath>

#include "optim_util.hpp"
#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::optim {

namespace {

void check_decay(float decay) {
    RFLOW_CHECK(decay >= 0.f && decay <= 1.f, "Ema: decay " << decay << " not in [0, 1]");
}

void check_params(const std::vector<Tensor>& shadow, const std::vector<Tensor>& params,
                  const char* what) {
    RFLOW_CHECK(params.size() == shadow.size(), "Ema::" << what << ": " << params.size()
                                                    << " parameters, the EMA holds "
                                                    << shadow.size());
    for (size_t i = 0; i < params.size(); ++i) {
        RFLOW_CHECK(params[i].defined() && params[i].shape() == shadow[i].shape() &&
                        params[i].device() == shadow[i].device(),
                    "Ema::" << what << ": parameter " << i << " does not match its shadow "
                            << shape_str(shadow[i].shape()));
    }
}

}  // namespace

Ema::Ema(const std::vector<Tensor>& params, float decay, bool warmup) : decay_(decay), warmup_(warmup) {
    check_decay(decay);
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
        RFLOW_CHECK(params[i].defined(), "Ema: parameter " << i << " is undefined");
        shadow_.push_back(params[i].detach().clone().contiguous());  // an independent copy
    }
}

Ema::Ema(Ema&&) noexcept = default;
Ema& Ema::operator=(Ema&&) noexcept = default;
Ema::~Ema() = default;

void Ema::set_decay(float decay) {
    check_decay(decay);
    decay_ = decay;
}

float Ema::current_decay() const {
    if (!warmup_) return decay_;
    // d = min(decay, (1 + n) / (10 + n)) after n updates
    const double n = static_cast<double>(updates_);
    return static_cast<float>(std::min<double>(decay_, (1.0 + n) / (10.0 + n)));
}

void Ema::update(const std::vector<Tensor>& params) {
    check_params(shadow_, params, "update");
    NoGradGuard no_grad;
    const float d = current_decay(), w = 1.f - d;
    for (size_t i = 0; i < params.size(); ++i) {
        Tensor& s = shadow_[i];
        if (s.device() == Device::cpu) {
            Tensor p = params[i].contiguous();
            detail::ArrMap sm(s.data(), s.numel());
            detail::CArrMap pm(p.data(), p.numel());
            sm = d * sm + w * pm;  // s = decay s + (1 - decay) p
        } else {
            s.copy_(add(mul(s, d), mul(params[i], w)));
        }
    }
    ++updates_;
}

void Ema::copy_to(std::vector<Tensor>& params) const {
    check_params(shadow_, params, "copy_to");
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(shadow_[i]);
}

NamedTensors Ema::state() const {
    NoGradGuard no_grad;
    NamedTensors out;
    out.emplace_back("ema.updates", detail::count_tensor(updates_, "ema.updates"));
    for (size_t i = 0; i < shadow_.size(); ++i)
        out.emplace_back("ema.shadow." + std::to_string(i), shadow_[i].clone());
    return out;
}

void Ema::load_state(const NamedTensors& state) {
    NoGradGuard no_grad;
    const auto map = detail::index_state(state);
    const int64_t updates = detail::find_count(map, "ema.updates");
    for (size_t i = 0; i < shadow_.size(); ++i)
        detail::find_state(map, "ema.shadow." + std::to_string(i), shadow_[i].shape());
    for (size_t i = 0; i < shadow_.size(); ++i) {
        Tensor& s = shadow_[i];
        s.copy_(map.at("ema.shadow." + std::to_string(i)).to(s.device()));
    }
    updates_ = updates;
}

}  // namespace rflow::optim
