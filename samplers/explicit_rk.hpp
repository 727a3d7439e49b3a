// Internal to samplers/: explicit Runge-Kutta methods as Butcher tableaus, the fixed-step loop
// that runs any of them over a time grid, and the factories the registry uses. Not installed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rflow/samplers/sampler.hpp"

namespace rflow::samplers::detail {

/// An explicit Runge-Kutta method with s stages:
///   k_i = v(x + h sum_{j<i} a[i][j] k_j,  t + c[i] h),   x_next = x + h sum_i b[i] k_i.
struct Tableau {
    std::string name;
    int order = 1;
    std::vector<double> c;               ///< [s] stage times as fractions of h (c[0] = 0)
    std::vector<std::vector<double>> a;  ///< a[i] has i entries (strictly lower triangular)
    std::vector<double> b;               ///< [s] weights of the solution
};

const Tableau& euler_tableau();
const Tableau& midpoint_tableau();
const Tableau& heun_tableau();
const Tableau& rk4_tableau();
/// Dormand-Prince 5(4): the six stages of the 5th-order solution (the seventh, FSAL stage only
/// feeds the error estimate, see dopri5.cpp).
const Tableau& dopri5_tableau();

/// The grid the options ask for: `times` if given, else make_grid(grid, steps, shift).
std::vector<double> resolve_grid(const SamplerOptions& options);

/// Runs `method` over the options' grid: s calls to v per step, trajectory at every grid point.
SampleResult run_fixed_step(const Tableau& method, const VelocityField& v, const Tensor& x0,
                            const SamplerOptions& options);

std::unique_ptr<Sampler> make_fixed_step_sampler(const Tableau& method);
std::unique_ptr<Sampler> make_dopri5_sampler();

}  // namespace rflow::samplers::detail
