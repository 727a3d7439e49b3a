// Weight initialisers; each writes in place, outside autograd.
#include "rflow/nn/init.hpp"

#include <cmath>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"

namespace rflow::nn::init {

int64_t fan_in(const Tensor& w) {
    RFLOW_CHECK(w.dim() >= 2, "fan_in needs a weight of rank >= 2, got " << shape_str(w.shape()));
    return w.numel() / w.size(0);
}

int64_t fan_out(const Tensor& w) {
    RFLOW_CHECK(w.dim() >= 2, "fan_out needs a weight of rank >= 2, got " << shape_str(w.shape()));
    return w.numel() / w.size(1);
}

void uniform_(Tensor& w, Generator& gen, float lo, float hi) {
    NoGradGuard ng;
    w.copy_(Tensor::uniform(w.shape(), gen, lo, hi, w.device()));
}

static void normal_(Tensor& w, Generator& gen, float std) {
    NoGradGuard ng;
    w.copy_(Tensor::normal(w.shape(), gen, 0.f, std, w.device()));
}

void kaiming_uniform_(Tensor& w, Generator& gen, float a) {
    const float gain = std::sqrt(2.f / (1.f + a * a));
    const float bound = gain * std::sqrt(3.f / static_cast<float>(fan_in(w)));
    uniform_(w, gen, -bound, bound);
}

void kaiming_normal_(Tensor& w, Generator& gen, float a) {
    const float gain = std::sqrt(2.f / (1.f + a * a));
    normal_(w, gen, gain / std::sqrt(static_cast<float>(fan_in(w))));
}

void xavier_uniform_(Tensor& w, Generator& gen, float gain) {
    const float bound = gain * std::sqrt(6.f / static_cast<float>(fan_in(w) + fan_out(w)));
    uniform_(w, gen, -bound, bound);
}

void xavier_normal_(Tensor& w, Generator& gen, float gain) {
    normal_(w, gen, gain * std::sqrt(2.f / static_cast<float>(fan_in(w) + fan_out(w))));
}

void constant_(Tensor& w, float value) { w.fill_(value); }

}  // namespace rflow::nn::init
