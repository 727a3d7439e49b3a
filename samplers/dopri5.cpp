// Adaptive Dormand-Prince 5(4) sampler: embedded error estimate, FSAL, PI step-size control, and
// per-sample stepping where each row of the batch has its own step size and finished rows cost
// nothing (v is evaluated on the active rows only).
//
// One attempt from (x, t) with step h (k1 = v(x, t) carried over from the last accepted step):
//   k_i   = v(x + h sum_j a_ij k_j, t + c_i h),  i = 2..6
//   x_new = x + h sum_i b_i k_i                  (5th order)
//   k7    = v(x_new, t + h)                      (FSAL: the next k1 when accepted)
//   err   = h sum_i e_i k_i,  e = b - b*         (b* the embedded 4th-order weights)
//   E     = sqrt(mean_i (err_i / (atol + rtol max(|x_i|, |x_new,i|)))^2)   over one row's elements
// The step is accepted when E <= 1 (batch-wide mode: when the largest E over the rows is <= 1).
//
// Step-size control (Gustafsson's PI controller, as in Hairer & Wanner, Solving ODEs II, IV.2,
// with k = 5 the order of the local error of the 4th-order estimate plus one):
//   accepted: h <- h * clamp(safety * E^(-beta1) * E_prev^(beta2), min_factor, max_factor)
//             beta1 = 0.7 / 5 = 0.14, beta2 = 0.4 / 5 = 0.08, E_prev = max(previous E, 1e-4)
//             (no growth right after a rejection)
//   rejected: h <- h * max(min_factor, safety * E^(-1/5))        (plain I control)
// The first step comes from Hairer's heuristic (Solving ODEs I, II.4 "Starting step size",
// one extra call to v) unless options.initial_step > 0.
#include <algorithm>
#include <cmath>
#include <limits>

#include "explicit_rk.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"
#include "step_kernels.hpp"

namespace rflow::samplers::detail {

namespace {

constexpr const char* kName = "dopri5";
constexpr double kBeta1 = 0.7 / 5.0;  // PI controller, proportional exponent
constexpr double kBeta2 = 0.4 / 5.0;  // PI controller, integral exponent
constexpr double kMinPrevError = 1e-4;
constexpr double kMinStep = 1e-10;    // below this a row's step has underflowed: fail loudly

// e = b - b*: b* = (5179/57600, 0, 7571/16695, 393/640, -92097/339200, 187/2100, 1/40)
constexpr double kErr[7] = {71.0 / 57600.0,     0.0,           -71.0 / 16695.0, 71.0 / 1920.0,
                            -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0};

void check_options(const SamplerOptions& o) {
    RFLOW_CHECK(o.rtol >= 0.0 && o.atol >= 0.0 && o.rtol + o.atol > 0.0,
                "dopri5: need rtol >= 0, atol >= 0 and one of them > 0, got rtol " << o.rtol << ", atol " << o.atol);
    RFLOW_CHECK(o.max_steps >= 1, "dopri5: max_steps must be >= 1, got " << o.max_steps);
    RFLOW_CHECK(o.safety > 0.0 && o.safety <= 1.0, "dopri5: safety must be in (0, 1], got " << o.safety);
    RFLOW_CHECK(o.min_factor > 0.0 && o.min_factor < 1.0, "dopri5: min_factor must be in (0, 1), got " << o.min_factor);
    RFLOW_CHECK(o.max_factor > 1.0, "dopri5: max_factor must be > 1, got " << o.max_factor);
    RFLOW_CHECK(std::isfinite(o.initial_step), "dopri5: initial_step is not finite");
}

/// Hairer's starting step per row (Solving ODEs I, II.4), with norms ||.|| scaled by
/// atol + rtol |x0|:
///   d0 = ||x0||, d1 = ||f0||, h0 = (d0 < 1e-5 or d1 < 1e-5) ? 1e-6 : 0.01 d0 / d1
///   d2 = ||v(x0 + h0 f0, h0) - f0|| / h0
///   h1 = max(d1, d2) <= 1e-15 ? max(1e-6, 1e-3 h0) : (0.01 / max(d1, d2))^(1/5)
///   h  = min(100 h0, h1, 1)
std::vector<double> initial_steps(const VelocityField& v, const Tensor& x0, const Tensor& f0,
                                  const SamplerOptions& o, Counter& count) {
    const int64_t n = x0.size(0);
    const std::vector<double> d0 = scaled_rms(x0, Tensor(), {1.0}, {{1.0, x0}}, o.atol, o.rtol);
    const std::vector<double> d1 = scaled_rms(x0, Tensor(), {1.0}, {{1.0, f0}}, o.atol, o.rtol);
    std::vector<double> h0(n), inv_h0(n), h(n);
    for (int64_t r = 0; r < n; ++r) {
        h0[r] = (d0[r] < 1e-5 || d1[r] < 1e-5 || !std::isfinite(d0[r] / d1[r])) ? 1e-6 : 0.01 * d0[r] / d1[r];
        h0[r] = std::min(h0[r], 1.0);
        inv_h0[r] = 1.0 / h0[r];
    }
    Tensor x1 = combine(x0, h0, {{1.0, f0}});
    Tensor f1 = evaluate(v, x1, time_tensor(h0, n, x0.device()), count, kName);
    const std::vector<double> d2 = scaled_rms(x0, Tensor(), inv_h0, {{1.0, f1}, {-1.0, f0}}, o.atol, o.rtol);
    for (int64_t r = 0; r < n; ++r) {
        const double dm = std::max(d1[r], d2[r]);
        const double h1 = !(dm > 1e-15) ? std::max(1e-6, 1e-3 * h0[r]) : std::pow(0.01 / dm, 1.0 / 5.0);
        h[r] = std::min({100.0 * h0[r], h1, 1.0});
    }
    return h;
}

/// [N, 1, ..., 1] mask (1 where `on`) broadcastable against x.
Tensor row_mask(const std::vector<char>& on, const Tensor& x) {
    std::vector<float> f(on.size());
    for (size_t i = 0; i < on.size(); ++i) f[i] = on[i] ? 1.f : 0.f;
    Shape s(static_cast<size_t>(x.dim()), 1);
    s[0] = x.size(0);
    return Tensor::from_vector(f, s, x.device());
}

/// full where the rows `idx` (global) of `part` were accepted, else full; `part` holds rows idx.
Tensor scatter_accepted(const Tensor& full, const Tensor& part, const std::vector<int64_t>& idx,
                        const std::vector<char>& accepted_global, bool all_active, bool all_accepted) {
    if (all_active && all_accepted) return part;
    Tensor spread = all_active ? part : index_add(full.shape(), 0, idx, part);
    return where(row_mask(accepted_global, full), spread, full);
}

SampleResult run_adaptive(const VelocityField& v, const Tensor& x0, const SamplerOptions& o) {
    check_x0(x0, kName);
    RFLOW_CHECK(v, "dopri5: the velocity field is empty");
    check_options(o);
    const Tableau& tab = dopri5_tableau();
    const int64_t n = x0.size(0);
    const Device dev = x0.device();

    SampleResult res;
    Counter count;
    Tensor x = x0;
    std::vector<double> t(n, 0.0);
    auto times_now = [&] { return time_tensor(t, n, dev); };
    if (o.record_trajectory) {
        res.trajectory.push_back(x0);
        res.trajectory_times.push_back(Tensor::zeros({n}, dev));
    }
    if (n == 0) {
        res.x = x0;
        res.t = Tensor::zeros({0}, dev);
        return res;
    }

    Tensor k1 = evaluate(v, x0, Tensor::zeros({n}, dev), count, kName);
    std::vector<double> h;
    if (o.initial_step > 0.0) {
        h.assign(n, std::min(o.initial_step, 1.0));
    } else {
        h = initial_steps(v, x0, k1, o, count);
    }
    if (!o.per_sample) h.assign(n, *std::min_element(h.begin(), h.end()));

    std::vector<double> err_prev(n, 1.0);
    std::vector<char> done(n, 0), was_rejected(n, 0), accepted_now(n, 0);
    int64_t remaining = n, callbacks = 0;
    std::vector<int64_t> idx;
    std::vector<double> ha, ta;
    std::vector<Tensor> k(7);

    while (remaining > 0) {
        if (res.iterations >= o.max_steps) {
            res.budget_exhausted = true;
            break;
        }
        ++res.iterations;

        // the active rows, their step sizes (clipped to land exactly on t = 1) and times
        idx.clear();
        ha.clear();
        ta.clear();
        for (int64_t r = 0; r < n; ++r) {
            if (done[r]) continue;
            h[r] = std::min(h[r], 1.0 - t[r]);
            idx.push_back(r);
            ha.push_back(h[r]);
            ta.push_back(t[r]);
        }
        const int64_t na = static_cast<int64_t>(idx.size());
        const bool all_active = na == n;
        const Tensor xa = all_active ? x : index_select(x, 0, idx);
        k[0] = all_active ? k1 : index_select(k1, 0, idx);
        const Steps hs = o.per_sample ? ha : Steps{ha[0]};

        // stages 2..6, the 5th-order solution, and the FSAL stage at t + h
        std::vector<Term> terms;
        std::vector<double> ts(na);
        for (size_t i = 1; i < 6; ++i) {
            terms.clear();
            for (size_t j = 0; j < i; ++j) terms.push_back({tab.a[i][j], k[j]});
            for (int64_t q = 0; q < na; ++q) ts[q] = ta[q] + tab.c[i] * ha[q];
            k[i] = evaluate(v, combine(xa, hs, terms), time_tensor(ts, na, dev), count, kName);
        }
        terms.clear();
        for (size_t i = 0; i < 6; ++i) terms.push_back({tab.b[i], k[i]});
        const Tensor x_new = combine(xa, hs, terms);
        for (int64_t q = 0; q < na; ++q) ts[q] = ha[q] >= 1.0 - ta[q] ? 1.0 : ta[q] + ha[q];
        k[6] = evaluate(v, x_new, time_tensor(ts, na, dev), count, kName);

        terms.clear();
        for (size_t i = 0; i < 7; ++i) terms.push_back({kErr[i], k[i]});
        std::vector<double> err = scaled_rms(xa, x_new, hs, terms, o.atol, o.rtol);
        if (!o.per_sample) {
            // batch-wide: the worst row decides (NaN counts as the worst)
            double worst = 0.0;
            for (double e : err) worst = std::isnan(e) || std::isnan(worst) ? std::numeric_limits<double>::quiet_NaN()
                                                                           : std::max(worst, e);
            std::fill(err.begin(), err.end(), worst);
        }

        // accept or reject each active row, and pick its next step size
        int64_t n_acc = 0;
        std::fill(accepted_now.begin(), accepted_now.end(), 0);
        for (int64_t q = 0; q < na; ++q) {
            const int64_t r = idx[q];
            const double e = err[q];
            if (e <= 1.0) {  // false for NaN
                double fac = e == 0.0 ? o.max_factor
                                      : o.safety * std::pow(e, -kBeta1) * std::pow(err_prev[r], kBeta2);
                fac = std::clamp(fac, o.min_factor, o.max_factor);
                if (was_rejected[r]) fac = std::min(fac, 1.0);
                err_prev[r] = std::max(e, kMinPrevError);
                was_rejected[r] = 0;
                accepted_now[r] = 1;
                ++n_acc;
                if (ts[q] == 1.0) {
                    t[r] = 1.0;
                    done[r] = 1;
                    --remaining;
                } else {
                    t[r] = ts[q];
                }
                h[r] *= fac;
            } else {
                const double fac = std::isnan(e) ? o.min_factor
                                                 : std::max(o.min_factor, o.safety * std::pow(e, -1.0 / 5.0));
                h[r] *= fac;
                was_rejected[r] = 1;
                RFLOW_CHECK(h[r] >= kMinStep, "dopri5: step size underflow (h = " << h[r] << ") at t = " << t[r]
                                                  << " for sample " << r
                                                  << ": the velocity is not finite there, or the problem is "
                                                     "too stiff for rtol "
                                                  << o.rtol << ", atol " << o.atol);
            }
        }
        if (o.per_sample) {
            res.accepted += n_acc;
            res.rejected += na - n_acc;
        } else {
            (n_acc > 0 ? res.accepted : res.rejected) += 1;
        }
        if (n_acc == 0) continue;

        // move the accepted rows forward; the FSAL stage becomes their next k1
        const bool all_acc = n_acc == na;
        x = scatter_accepted(x, x_new, idx, accepted_now, all_active, all_acc);
        k1 = scatter_accepted(k1, k[6], idx, accepted_now, all_active, all_acc);

        if (o.record_trajectory) {
            res.trajectory.push_back(x);
            res.trajectory_times.push_back(times_now());
        }
        if (o.callback) {
            StepInfo info;
            info.step = ++callbacks;
            info.t = *std::min_element(t.begin(), t.end());
            info.times = times_now();
            info.x = x;
            info.nfe = count.nfe;
            info.row_evaluations = count.rows;
            if (!o.callback(info)) {
                res.stopped = remaining > 0;
                break;
            }
        }
    }
    res.x = x;
    res.t = times_now();
    res.nfe = count.nfe;
    res.row_evaluations = count.rows;
    return res;
}

class Dopri5Sampler final : public Sampler {
public:
    std::string name() const override { return kName; }
    int order() const override { return 5; }
    bool adaptive() const override { return true; }
    SampleResult sample(const VelocityField& v, const Tensor& x0, const SamplerOptions& options) const override {
        if (!options.adaptive) return run_fixed_step(dopri5_tableau(), v, x0, options);
        return run_adaptive(v, x0, options);
    }
};

}  // namespace

std::unique_ptr<Sampler> make_dopri5_sampler() { return std::make_unique<Dopri5Sampler>(); }

}  // namespace rflow::samplers::detail
