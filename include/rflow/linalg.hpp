// Dense linear algebra on small CPU matrices (computed in double through Eigen): the thin SVD
// that LoRA's PiSSA and LoRA-GA initialisations need.
#pragma once

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

/// Thin SVD of a [m, n] matrix: a = U diag(S) V^T with U [m, k], S [k] (descending), V [n, k],
/// k = min(m, n). Float32 results of a double-precision decomposition.
struct Svd {
    Tensor U, S, V;
};
RFLOW_API Svd svd(const Tensor& a);

}  // namespace rflow
