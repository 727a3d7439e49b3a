// Sample-quality metrics between two point clouds: sliced Wasserstein distance and RBF MMD^2.
#pragma once

#include <vector>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

/// Sliced 2-Wasserstein: sqrt(mean over random unit directions u of W2^2(u.a, u.b)), where each
/// 1-D W2 is computed from sorted projections (a and b [N, D], same N).
RFLOW_API double sliced_wasserstein(const Tensor& a, const Tensor& b, Generator& gen, int projections = 256);

/// Unbiased MMD^2 with a sum of RBF kernels exp(-|x - y|^2 / (2 h^2)) over the bandwidths h.
RFLOW_API double mmd_rbf(const Tensor& a, const Tensor& b, const std::vector<double>& bandwidths = {0.5, 1.0, 2.0});

}  // namespace rflow
