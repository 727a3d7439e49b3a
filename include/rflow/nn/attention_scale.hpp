// Softmax-scale policies for attention, chosen by name (SPEC §5, Su's article 9812):
//   default  : 1/sqrt(d)
//   gradmax  : alpha*(n)/sqrt(d), alpha* > 0 solving e^{a^2}(1 + 2a^2) = n, the stationary point of
//              the mean-field objective a(1 - e^{a^2}/n) (the L1 norm of the softmax Jacobian)
//   cosine   : q and k are l2-normalised and the scores scaled by the temperature alpha*_cos(n, d)
//              maximising a(1 - g(2a)/(n g(a)^2)), g(a) = E[e^{a s}] for s the cosine of two random
//              directions in R^d (density prop. to (1 - s^2)^{(d-3)/2} on [-1, 1])
//   logn     : the entropy-invariant scale log_512(n)/sqrt(d) (article 8823)
// n is the number of keys a query sees (for causal attention, the layer passes max_len / 2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"

namespace rflow::nn {

enum class ScalePolicy { standard, gradmax, cosine, logn };

/// "default" | "gradmax" | "cosine" | "logn"; errors list the names.
RFLOW_API ScalePolicy scale_policy(const std::string& name);
RFLOW_API std::vector<std::string> scale_policy_names();

/// alpha* > 0 with e^{a^2}(1 + 2a^2) = n (bisection, to double precision); needs n > 1.
RFLOW_API double gradmax_alpha(double n);
/// The cosine-score temperature alpha*_cos(n, d) (d >= 2; numerical maximisation).
RFLOW_API double gradmax_alpha_cosine(double n, int64_t d);
/// The exact half L1 norm of the softmax Jacobian, 1/2 sum_ij |d p_i / d s_j| with p = softmax(a s).
RFLOW_API double softmax_jacobian_half_l1(const std::vector<double>& s, double alpha);
/// sum_i p_i^2 for p = softmax(alpha s).
RFLOW_API double softmax_collision(const std::vector<double>& s, double alpha);

/// The multiplier applied to q.k for n keys and head width d under the policy.
RFLOW_API double attention_scale(ScalePolicy p, double n, int64_t d);
/// True when the policy l2-normalises q and k before the dot product (cosine).
inline bool normalises_qk(ScalePolicy p) { return p == ScalePolicy::cosine; }

}  // namespace rflow::nn
