// Sample-quality metrics between two point clouds (sliced Wasserstein distance, RBF MMD^2) and the
// straightness of a sampled ODE trajectory. Exact OT distances are in rflow/ot.hpp.
#pragma once

#include <vector>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

/// Sliced 2-Wasserstein distance: sqrt(mean over `projections` random unit directions u of
/// W2^2(u.a, u.b)), where each 1-D W2^2 = int_0^1 (F_a^-1(q) - F_b^-1(q))^2 dq is computed exactly
/// from the sorted projections (for equal N: the mean squared difference of the sorted values).
/// a is [N, D], b is [M, D] (N, M > 0; N = M is the usual case). Directions are normalised standard
/// normals: projections * D normals drawn from `gen`, which advances. Computed in double; the result
/// does not depend on the thread count. Error for bad shapes, projections < 1 or non-finite values.
RFLOW_API double sliced_wasserstein(const Tensor& a, const Tensor& b, Generator& gen, int projections = 256);

/// Unbiased MMD^2 between [N, D] and [M, D] clouds (N, M > 1) with the kernel
/// k(x, y) = sum over h in `bandwidths` of exp(-|x - y|^2 / (2 h^2)):
/// mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j) - 2 mean_{i, j} k(a_i, b_j).
/// Can be slightly negative when the distributions match. O((N + M)^2 D), in double, deterministic
/// for any thread count. Error for bad shapes, an empty or non-positive bandwidth, non-finite values.
RFLOW_API double mmd_rbf(const Tensor& a, const Tensor& b, const std::vector<double>& bandwidths = {0.5, 1.0, 2.0});

/// Straightness of a trajectory Z_t on [0, 1] (Liu et al., rectified flow):
///   S = int_0^1 E |(Z_1 - Z_0) - dZ_t/dt|^2 dt,
/// zero exactly when every path is a straight line traversed at constant speed. Approximated from
/// states[k] = Z at times[k] (each [N, D] or [N, ...], one shape; times strictly increasing from 0 to
/// 1, at least two) by finite differences:
///   S ~= sum_k dt_k * mean_i |(Z_1 - Z_0)_i - (Z_{k+1} - Z_k)_i / dt_k|^2,  dt_k = t_{k+1} - t_k.
/// Error when the sizes differ, times are not increasing, or do not start at 0 and end at 1 (1e-6).
RFLOW_API double straightness(const std::vector<Tensor>& states, const std::vector<float>& times);

/// Frechet distance between Gaussians fitted to two feature sets a [N, D] and b [M, D]:
///   ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)   (the FID formula),
/// computed in double with symmetric eigendecompositions.
RFLOW_API double frechet_distance(const Tensor& a, const Tensor& b);

}  // namespace rflow
