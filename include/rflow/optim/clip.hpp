// Gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_) and a finiteness check.
#pragma once

#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::optim {

/// Global L2 norm of all defined grads of `params` (as if concatenated), accumulated in double.
RFLOW_API float grad_norm(const std::vector<Tensor>& params);

/// Scales every grad in place by max_norm / (norm + 1e-6) when that factor is below 1 (PyTorch's
/// rule), and returns the global norm before clipping. Undefined grads are skipped. A non-finite
/// norm is returned as is and nothing is scaled (check it, or grads_finite(), before stepping).
/// Throws rflow::Error unless max_norm > 0.
RFLOW_API float clip_grad_norm(const std::vector<Tensor>& params, float max_norm);

/// True when every defined grad of `params` is free of NaN and Inf.
RFLOW_API bool grads_finite(const std::vector<Tensor>& params);

}  // namespace rflow::optim
