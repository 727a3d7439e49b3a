// Losses: mean squared error and cross-entropy with logits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

enum class Reduction { mean, sum, none };

/// (pred - target)^2 reduced over all elements ("none" keeps the element-wise shape).
RFLOW_API Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction r = Reduction::mean);

/// -log softmax(logits)[label] for logits [N, C]; rows whose label equals ignore_index are left
/// out (the mean is over the rest; 0 when none remain). "none" returns [N] with zeros there.
RFLOW_API Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels,
                               Reduction r = Reduction::mean, int64_t ignore_index = -100,
                               float label_smoothing = 0.f);

}  // namespace rflow
