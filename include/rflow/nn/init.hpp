// Weight initialisers (Kaiming, Xavier, constants), drawn from the Philox generator.
#pragma once

#include <string>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"

namespace rflow::nn::init {

/// fan_in / fan_out of a weight [out, in, k...] (receptive field = product of k...).
RFLOW_API int64_t fan_in(const Tensor& w);
RFLOW_API int64_t fan_out(const Tensor& w);

/// Kaiming (He) uniform: U(-b, b), b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).
/// a = sqrt(5) reproduces PyTorch's default Linear/Conv weight init.
RFLOW_API void kaiming_uniform_(Tensor& w, Generator& gen, float a = 0.f);
/// Kaiming normal: N(0, (gain / sqrt(fan_in))^2).
RFLOW_API void kaiming_normal_(Tensor& w, Generator& gen, float a = 0.f);
/// Xavier (Glorot) uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
RFLOW_API void xavier_uniform_(Tensor& w, Generator& gen, float gain = 1.f);
/// Xavier normal: N(0, gain^2 * 2 / (fan_in + fan_out)).
RFLOW_API void xavier_normal_(Tensor& w, Generator& gen, float gain = 1.f);
/// U(lo, hi) and constants.
RFLOW_API void uniform_(Tensor& w, Generator& gen, float lo, float hi);
RFLOW_API void constant_(Tensor& w, float value);

}  // namespace rflow::nn::init
