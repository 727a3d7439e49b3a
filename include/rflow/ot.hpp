// Exact optimal transport between equal-size point clouds: a dense linear assignment solver
// (Jonker-Volgenant initialisation + shortest augmenting paths, as in scipy's
// linear_sum_assignment), the exact empirical 2-Wasserstein distance, and the minibatch-OT pairing
// used to couple noise and data in training (OT-CFM).
#pragma once

#include <cstdint>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

/// Largest N accepted by exact_w2 and ot_pairing: the solver takes O(N^3) time in the worst case
/// (about 0.6 s at N = 2000 for normal noise against 8gaussians on 2 cores) and, for rows of more
/// than 8 values, holds an N x N double cost matrix (N = 5000 is 200 MB). Rows of up to 8 values
/// have their squared distances recomputed per solver step instead (no N x N matrix).
constexpr int64_t kMaxExactOtPoints = 5000;

/// Exact linear assignment on a dense square cost matrix (row-major, n x n, finite values):
/// returns sigma with sigma[i] the column given to row i, a permutation minimising
/// sum_i cost[i * n + sigma[i]]. Computed in double; O(n^3) worst case, about n^2 .. n^2.5 in
/// practice. Ties are broken deterministically.
/// rflow::Error for n < 0, a null pointer with n > 0, or a non-finite cost (naming its row/column).
RFLOW_API std::vector<int64_t> linear_sum_assignment(const double* cost, int64_t n);
/// The same for a vector holding n * n costs.
RFLOW_API std::vector<int64_t> linear_sum_assignment(const std::vector<double>& cost, int64_t n);
/// The same for a float [n, n] tensor (converted to double).
RFLOW_API std::vector<int64_t> linear_sum_assignment(const Tensor& cost);

/// Exact empirical 2-Wasserstein distance between two [N, D] clouds of equal N (uniform weights):
/// sqrt(min over permutations sigma of mean_i |a_i - b_sigma(i)|^2). Error for mismatched shapes,
/// N = 0, non-finite values or N > kMaxExactOtPoints (use sliced_wasserstein for large clouds).
/// Tensors of rank > 2 ([N, C, H, W], ...) are compared row by row, each row flattened.
RFLOW_API double exact_w2(const Tensor& a, const Tensor& b);

/// Minibatch-OT coupling: the permutation perm of x1's rows minimising sum_i |x0_i - x1_perm[i]|^2,
/// so that index_select(x1, 0, perm) is x1 reordered to pair with x0 row by row. x0 and x1 are [N, D]
/// (or any shape [N, ...], flattened per row) of one shape; same limits as exact_w2.
RFLOW_API std::vector<int64_t> ot_pairing(const Tensor& x0, const Tensor& x1);

}  // namespace rflow
