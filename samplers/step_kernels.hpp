// Internal to samplers/: the arithmetic every Runge-Kutta step shares (stage sums, scaled error
// norms, time tensors, counted velocity calls). Not installed.
#pragma once

#include <cstdint>
#include <vector>

#include "rflow/samplers/sampler.hpp"

namespace rflow::samplers::detail {

/// One term c * k of a stage sum.
struct Term {
    double c;
    Tensor k;
};

/// Step sizes: one entry for every row, or one per row.
using Steps = std::vector<double>;

/// out = x + h_r * sum_j c_j k_j (row r scaled by its own h_r, or all rows by h[0]).
/// CPU tensors outside recording take one fused pass into a fresh buffer; otherwise it is built
/// from ops, so it records autograd history when the caller's grad mode asks for it.
Tensor combine(const Tensor& x, const Steps& h, const std::vector<Term>& terms);

/// Per-row RMS norm of the step-weighted sum, scaled by the tolerances:
///   e_r = sqrt( mean_i ( h_r sum_j c_j k_j[r, i] / (atol + rtol max(|a[r, i]|, |b[r, i]|)) )^2 )
/// b may be undefined (then the scale uses |a| only). Never records history.
std::vector<double> scaled_rms(const Tensor& a, const Tensor& b, const Steps& h,
                               const std::vector<Term>& terms, double atol, double rtol);

/// An [n] float tensor of times: t[0] for every row if t has one entry, else t[r] per row.
Tensor time_tensor(const std::vector<double>& t, int64_t n, Device device);

/// Calls to v and the rows they covered.
struct Counter {
    int64_t nfe = 0;
    int64_t rows = 0;
};

/// v(x, t), checking that the result is defined and has x's shape and device; counts the call.
Tensor evaluate(const VelocityField& v, const Tensor& x, const Tensor& t, Counter& count,
                const char* sampler);

/// Checks what every sampler needs of x0: defined, with a batch axis.
void check_x0(const Tensor& x0, const char* sampler);

}  // namespace rflow::samplers::detail
