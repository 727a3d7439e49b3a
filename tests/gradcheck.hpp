// Finite-difference gradient checks (first and second order) used by the op and layer tests.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <rflow/rflow.hpp>

namespace rflow::testing {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradCheckResult {
    bool ok = true;
    double max_abs_err = 0, max_rel_err = 0;
    std::string report;  ///< the worst entry, for the failure message
};

/// Compares autograd's gradient of L = sum(w * f(x)) (w fixed random weights) with central
/// differences of L, for every element of every input. Inputs are perturbed in place.
GradCheckResult check_grad(const Fn& f, std::vector<Tensor> inputs, float eps = 1e-3f,
                           double atol = 2e-3, double rtol = 2e-2);

/// Second order: G(x) = ||d L / d x||^2 summed over inputs, with L = sum(w * f(x)^2). Compares
/// the gradient of G obtained by double backward (create_graph) with central differences of G.
GradCheckResult check_grad2(const Fn& f, std::vector<Tensor> inputs, float eps = 2e-3f,
                            double atol = 5e-3, double rtol = 5e-2);

/// A tensor of the given shape with entries uniform in [lo, hi), from a fixed seed.
Tensor rand_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f);

/// Largest absolute elementwise difference (shapes must match).
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace rflow::testing
