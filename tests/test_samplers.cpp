// ODE samplers: time grids, the registry, orders of accuracy, dopri5's error control and
// per-sample stepping, step budgets, callbacks and trajectories, and SPEC 1.h property 5 (the
// Gaussian rectified flow) through every registered sampler.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <rflow/autograd.hpp>
#include <rflow/error.hpp>
#include <rflow/ops.hpp>
#include <rflow/philox.hpp>
#include <rflow/samplers/euler.hpp>
#include <rflow/samplers/sampler.hpp>
#include <rflow/samplers/time_grid.hpp>
#include <rflow/tensor.hpp>

using namespace rflow;
using namespace rflow::samplers;

namespace {

/// t [N] as [N, 1, ..., 1], broadcastable against x of any rank.
Tensor per_row(const Tensor& t, const Tensor& x) {
    Shape s(static_cast<size_t>(x.dim()), 1);
    s[0] = x.size(0);
    return t.reshape(s);
}

double max_abs_diff(const Tensor& a, const std::vector<double>& b) {
    const std::vector<float> v = a.to_vector();
    REQUIRE(v.size() == b.size());
    double m = 0.0;
    for (size_t i = 0; i < v.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(v[i]) - b[i]));
    return m;
}

/// Options that run any sampler on a fixed grid (dopri5 as a fixed-step 5th-order method).
SamplerOptions fixed(int64_t steps) {
    SamplerOptions o;
    o.steps = steps;
    o.adaptive = false;
    return o;
}

// ---- test problems with known solutions ----

/// The nilpotent chain dx_i/dt = x_{i+1} (i < D), dx_D/dt = 0, whose solution is a polynomial:
/// x_i(1) = sum_k x_{i+k}(0) / k!. A method of order p has R(z) = e^z - delta z^(p+1) + O(z^(p+2)),
/// so with D = p + 2 (A^(p+2) = 0) each step errs by exactly -delta (hA)^(p+1) and the global
/// error is exactly -delta h^p A^(p+1) x0: the observed order is p at any step size, with no
/// higher-order terms to wait out (dopri5's 5th-order error constant is so small that on generic
/// problems float32 round-off arrives before the asymptotic range does).
VelocityField chain(int64_t d) {
    return [d](const Tensor& x, const Tensor&) { return concat({x.slice(1, 1, d), zeros_like(x.slice(1, 0, 1))}, 1); };
}
std::vector<double> chain_exact(const std::vector<float>& x0, int64_t d) {
    std::vector<double> out(x0.size(), 0.0);
    for (size_t j = 0; j < x0.size(); ++j)  // row j / d, component i = j % d
        for (int64_t k = 0, i = j % d; i + k < d; ++k) out[j] += x0[j + k] / std::tgamma(k + 1.0);
    return out;
}

/// Logistic growth at a time-varying rate, nonlinear and non-autonomous:
///   dx/dt = r(t) x (1 - x),  r(t) = k (1 + cos(k t)),  x(t) = 1 / (1 + (1/x0 - 1) e^(-R(t))),
///   R(t) = k t + sin(k t).
constexpr float kRate = 4.f;
VelocityField logistic() {
    return [](const Tensor& x, const Tensor& t) {
        return mul(mul(x, rsub(x, 1.f)), per_row((cos(t * kRate) + 1.f) * kRate, x));
    };
}
double logistic_exact(double x0, double t) {
    const double big_r = kRate * t + std::sin(kRate * t);
    return 1.0 / (1.0 + (1.0 / x0 - 1.0) * std::exp(-big_r));
}
const std::vector<float> kLogisticX0{0.1f, 0.05f, 0.2f};
Tensor logistic_x0() { return Tensor::from_vector(kLogisticX0, {3, 1}); }
std::vector<double> logistic_x1() {
    std::vector<double> out;
    for (float a : kLogisticX0) out.push_back(logistic_exact(a, 1.0));
    return out;
}

/// log2(err(n) / err(2n)) of a sampler on a fixed grid.
double observed_order(const Sampler& s, const VelocityField& v, const Tensor& x0, const std::vector<double>& exact,
                      int64_t n) {
    const double e1 = max_abs_diff(s.sample(v, x0, fixed(n)).x, exact);
    const double e2 = max_abs_diff(s.sample(v, x0, fixed(2 * n)).x, exact);
    MESSAGE(s.name() << ": err(" << n << ") = " << e1 << ", err(" << 2 * n << ") = " << e2 << ", order "
                     << std::log2(e1 / e2));
    return std::log2(e1 / e2);
}

/// dx/dt = -lambda (x - cos t), with lambda carried in column 1 of x (d lambda/dt = 0), so every
/// row has its own stiffness and v needs nothing but x and t:
///   x(t) = A cos t + B sin t + (x0 - A) e^(-lambda t),  A = lambda^2 / (1 + lambda^2),
///   B = lambda / (1 + lambda^2).
VelocityField relaxation() {
    return [](const Tensor& x, const Tensor& t) {
        Tensor value = x.slice(1, 0, 1), lambda = x.slice(1, 1, 2);
        Tensor dv = mul(neg(lambda), sub(value, cos(t).reshape({-1, 1})));
        return concat({dv, zeros_like(lambda)}, 1);
    };
}
double relaxation_exact(double x0, double lambda, double t) {
    const double a = lambda * lambda / (1 + lambda * lambda), b = lambda / (1 + lambda * lambda);
    return a * std::cos(t) + b * std::sin(t) + (x0 - a) * std::exp(-lambda * t);
}
/// Rows (x0, lambda).
Tensor relaxation_x0(const std::vector<double>& x0, const std::vector<double>& lambda) {
    std::vector<float> v;
    for (size_t i = 0; i < x0.size(); ++i) v.insert(v.end(), {float(x0[i]), float(lambda[i])});
    return Tensor::from_vector(v, {static_cast<int64_t>(x0.size()), 2});
}
/// Worst error of column 0 against the exact solution at t = 1, relative to atol = rtol = tol.
double relaxation_error(const Tensor& x1, const std::vector<double>& x0, const std::vector<double>& lambda, double tol) {
    const std::vector<float> got = x1.to_vector();
    double m = 0.0;
    for (size_t i = 0; i < x0.size(); ++i) {
        const double exact = relaxation_exact(x0[i], lambda[i], 1.0);
        m = std::max(m, std::fabs(got[2 * i] - exact) / (tol + tol * std::fabs(exact)));
    }
    return m;
}
/// SPEC 1.h property 5: x0 ~ N(0, 1), x1 ~ N(mu, sigma^2) independent; the optimal velocity
///   v*(x, t) = mu + (t sigma^2 - (1 - t)) / ((1 - t)^2 + t^2 sigma^2) (x - t mu)
/// carries N(0, 1) to N(t mu, (1 - t)^2 + t^2 sigma^2) at every t, and x0 to mu + sigma x0.
constexpr float kMu = 1.5f, kSigma = 0.5f;
VelocityField gaussian_velocity() {
    return [](const Tensor& x, const Tensor& t) {
        const float s2 = kSigma * kSigma;
        Tensor one_m = rsub(t, 1.f);
        Tensor coef = div(sub(mul(t, s2), one_m), add(square(one_m), mul(square(t), s2)));
        return add(mul(per_row(coef, x), sub(x, per_row(mul(t, kMu), x))), kMu);
    };
}

/// Var x_t = (1 - t)^2 + t^2 sigma^2 along that flow.
double flow_var(double t) { return (1 - t) * (1 - t) + t * t * kSigma * kSigma; }

void mean_std(const Tensor& x, double& mean, double& std) {
    const std::vector<float> v = x.to_vector();
    double s = 0, s2 = 0;
    for (float f : v) s += f, s2 += static_cast<double>(f) * f;
    mean = s / static_cast<double>(v.size());
    std = std::sqrt(s2 / static_cast<double>(v.size()) - mean * mean);
}

/// Velocity evaluations per step of the fixed-step methods (dopri5 as a fixed-step method).
const std::map<std::string, int64_t>& stages_per_step() {
    static const std::map<std::string, int64_t> m{{"euler", 1}, {"midpoint", 2}, {"heun", 2}, {"rk4", 4}, {"dopri5", 6}};
    return m;
}

}  // namespace

// ---------------------------------------------------------------- time grids

TEST_CASE("time grids: uniform, shifted, by name, and user lists") {
    CHECK(uniform_grid(4) == std::vector<double>{0.0, 0.25, 0.5, 0.75, 1.0});
    CHECK(shift_time(0.5, 3.0) == doctest::Approx(0.75));
    CHECK(shift_time(0.25, 1.0) == 0.25);
    CHECK(shifted_grid(2, 3.0) == std::vector<double>{0.0, shift_time(0.5, 3.0), 1.0});
    // s < 1 crowds the steps near the noise end; both maps keep the ends exact and increase
    const std::vector<double> low = shifted_grid(10, 0.1);
    CHECK((low.front() == 0.0 && low.back() == 1.0));
    CHECK(low[1] == doctest::Approx(0.1 * 0.1 / (1.0 - 0.9 * 0.1)));
    for (size_t i = 1; i < low.size(); ++i) CHECK(low[i] > low[i - 1]);
    CHECK(shifted_grid(7, 1.0) == uniform_grid(7));

    CHECK((make_grid("uniform", 4) == uniform_grid(4) && make_grid("shifted", 5, 2.0) == shifted_grid(5, 2.0)));
    CHECK(grid_names() == std::vector<std::string>{"uniform", "shifted"});
    CHECK_THROWS_WITH_AS(make_grid("cosine", 4), doctest::Contains("uniform, shifted"), Error);
    for (double bad_shift : {0.0, -2.0, std::nan("")}) CHECK_THROWS_AS(shifted_grid(4, bad_shift), Error);
    CHECK_THROWS_AS(uniform_grid(0), Error);

    CHECK(grid_from_times({0.0, 0.1, 0.7, 1.0}) == std::vector<double>{0.0, 0.1, 0.7, 1.0});
    CHECK_THROWS_WITH_AS(grid_from_times({0.1, 0.5, 1.0}), doctest::Contains("start at t = 0"), Error);
    CHECK_THROWS_WITH_AS(grid_from_times({0.0, 0.5, 0.9}), doctest::Contains("end at t = 1"), Error);
    CHECK_THROWS_WITH_AS(grid_from_times({0.0, 0.5, 0.5, 1.0}), doctest::Contains("times[2]"), Error);
    CHECK_THROWS_WITH_AS(grid_from_times({0.0, 0.6, 0.4, 1.0}), doctest::Contains("increase strictly"), Error);
    CHECK_THROWS_AS(grid_from_times({0.0}), Error);
    CHECK_THROWS_AS(grid_from_times({0.0, std::nan(""), 1.0}), Error);
}

// ---------------------------------------------------------------- registry

TEST_CASE("sampler registry") {
    const std::vector<std::string> names = sampler_names();
    const std::map<std::string, int> orders{{"euler", 1}, {"midpoint", 2}, {"heun", 2}, {"rk4", 4}, {"dopri5", 5}};
    for (const auto& [name, order] : orders) {
        CHECK(std::find(names.begin(), names.end(), name) != names.end());
        CHECK(make_sampler(name)->order() == order);
    }
    for (const std::string& name : names) {
        auto s = make_sampler(name);
        REQUIRE(s != nullptr);
        CHECK((s->name() == name && s->adaptive() == (name == "dopri5")));
    }
    CHECK_THROWS_WITH_AS(make_sampler("ddim"), doctest::Contains("euler, midpoint, heun, rk4, dopri5"), Error);
}

// ---------------------------------------------------------------- accuracy

TEST_CASE("every sampler converges at its order") {
    NoGradGuard no_grad;
    for (const std::string& name : sampler_names()) {
        CAPTURE(name);
        auto s = make_sampler(name);
        const int p = s->order();

        // (1) the nilpotent chain of size p + 2: the error is exactly C h^p, so one halving shows p
        const int64_t d = p + 2;
        std::vector<float> init;
        for (int64_t i = 0; i < 2 * d; ++i) init.push_back(i < d ? 1.f : (i % 2 ? -0.5f : 1.5f));
        const Tensor x0 = Tensor::from_vector(init, {2, d});
        CHECK(std::fabs(observed_order(*s, chain(d), x0, chain_exact(init, d), 1) - p) <= 0.3);

        // (2) a nonlinear, non-autonomous problem inside each order's asymptotic range. dopri5
        // reaches its asymptotic range only below float32 resolution (its leading error constant
        // is tiny, so h^6 terms dominate); there it must show at least 5th order.
        const std::map<int, int64_t> steps{{1, 64}, {2, 64}, {4, 16}, {5, 4}};
        REQUIRE_MESSAGE(steps.count(p), "no step range for order " << p << ": add one");
        const double observed = observed_order(*s, logistic(), logistic_x0(), logistic_x1(), steps.at(p));
        if (p < 5)
            CHECK(std::fabs(observed - p) <= 0.3);
        else
            CHECK(observed >= p - 0.3);
    }
}

TEST_CASE("dopri5 meets its tolerance, and looser tolerances cost fewer evaluations") {
    NoGradGuard no_grad;
    auto s = make_sampler("dopri5");
    for (bool per_sample : {true, false}) {
        CAPTURE(per_sample);
        int64_t last_nfe_smooth = 0, last_nfe_stiff = 0;
        for (double tol : {1e-5, 1e-4, 1e-3}) {
            CAPTURE(tol);
            SamplerOptions o;
            o.rtol = o.atol = tol;
            o.per_sample = per_sample;

            // smooth: the time-varying logistic
            const SampleResult r = s->sample(logistic(), logistic_x0(), o);
            CHECK_FALSE(r.budget_exhausted);
            const std::vector<double> exact = logistic_x1();
            const std::vector<float> got = r.x.to_vector();
            for (size_t i = 0; i < exact.size(); ++i)
                CHECK(std::fabs(got[i] - exact[i]) <= 10 * (tol + tol * std::fabs(exact[i])));
            if (last_nfe_smooth) CHECK(r.nfe < last_nfe_smooth);
            last_nfe_smooth = r.nfe;

            // stiff-ish: dx/dt = -50 (x - cos t)
            const std::vector<double> x0v{1.0, -2.0}, lam{50.0, 50.0};
            const SampleResult q = s->sample(relaxation(), relaxation_x0(x0v, lam), o);
            CHECK_FALSE(q.budget_exhausted);
            CHECK(relaxation_error(q.x, x0v, lam, tol) <= 10);
            if (last_nfe_stiff) CHECK(q.nfe < last_nfe_stiff);
            last_nfe_stiff = q.nfe;
            CHECK(q.t.to_vector() == std::vector<float>(2, 1.f));
        }
    }
}

TEST_CASE("dopri5 per-sample stepping spends evaluations only where they are needed") {
    NoGradGuard no_grad;
    // four easy rows (lambda = 0.5) and four hard ones (lambda = 50)
    const std::vector<double> x0v{1.0, -1.0, 0.5, 2.0, 1.0, -1.0, 0.5, 2.0};
    const std::vector<double> lam{0.5, 0.5, 0.5, 0.5, 50.0, 50.0, 50.0, 50.0};
    const Tensor x0 = relaxation_x0(x0v, lam);
    auto s = make_sampler("dopri5");
    SamplerOptions o;
    o.rtol = o.atol = 1e-5;
    o.per_sample = true;
    o.record_trajectory = true;
    const SampleResult each = s->sample(relaxation(), x0, o);
    o.per_sample = false;
    const SampleResult batch = s->sample(relaxation(), x0, o);
    MESSAGE("row evaluations: per-sample " << each.row_evaluations << " (" << each.nfe << " calls), batch-wide "
                                           << batch.row_evaluations << " (" << batch.nfe << " calls)");
    CHECK(each.row_evaluations < batch.row_evaluations);
    CHECK(batch.row_evaluations == batch.nfe * 8);
    CHECK(each.t.to_vector() == std::vector<float>(8, 1.f));
    CHECK(batch.t.to_vector() == std::vector<float>(8, 1.f));
    // every row is accurate, and the carried lambda column is untouched
    CHECK(relaxation_error(each.x, x0v, lam, 1e-5) <= 10);
    const std::vector<float> got = each.x.to_vector();
    for (size_t i = 0; i < x0v.size(); ++i) CHECK(got[2 * i + 1] == static_cast<float>(lam[i]));
    // the trajectory: x0 first, the result last, each row's time never decreasing
    REQUIRE((each.trajectory.size() == each.trajectory_times.size() && each.trajectory.size() >= 2));
    CHECK(each.trajectory.front().to_vector() == x0.to_vector());
    CHECK(each.trajectory.back().to_vector() == got);
    CHECK(each.trajectory_times.front().to_vector() == std::vector<float>(8, 0.f));
    for (size_t k = 1; k < each.trajectory_times.size(); ++k) {
        const std::vector<float> a = each.trajectory_times[k - 1].to_vector(), b = each.trajectory_times[k].to_vector();
        for (size_t r = 0; r < 8; ++r) CHECK(b[r] >= a[r]);
    }
    // easy rows finish long before the hard ones: some state has them at 1 and the others not
    bool split = false;
    for (const Tensor& tt : each.trajectory_times) split = split || (tt.to_vector()[0] == 1.f && tt.to_vector()[4] < 1.f);
    CHECK(split);

    // identical rows take identical steps in both modes
    const Tensor same = relaxation_x0({1.0, 1.0, 1.0}, {5.0, 5.0, 5.0});
    o.per_sample = true;
    const SampleResult a = s->sample(relaxation(), same, o);
    o.per_sample = false;
    const SampleResult b = s->sample(relaxation(), same, o);
    CHECK(a.x.to_vector() == b.x.to_vector());
    CHECK(a.row_evaluations == b.row_evaluations);
    CHECK(a.accepted == 3 * b.accepted);
}

TEST_CASE("dopri5 evaluation counts and its step budget") {
    NoGradGuard no_grad;
    auto s = make_sampler("dopri5");
    const Tensor x0 = relaxation_x0({1.0, -2.0, 0.5}, {50.0, 1.0, 10.0});
    for (bool per_sample : {true, false}) {
        CAPTURE(per_sample);
        SamplerOptions o;
        o.per_sample = per_sample;
        // FSAL: one call for k1, one for the starting-step heuristic, six per attempt
        SampleResult r = s->sample(relaxation(), x0, o);
        CHECK(r.nfe == 2 + 6 * r.iterations);
        o.initial_step = 0.05;
        r = s->sample(relaxation(), x0, o);
        CHECK(r.nfe == 1 + 6 * r.iterations);
        if (!per_sample) CHECK(r.accepted + r.rejected == r.iterations);

        // the budget returns the last accepted state, flagged, short of t = 1
        o.initial_step = 0.0;
        o.max_steps = 3;
        o.record_trajectory = true;
        SampleResult cut;
        CHECK_NOTHROW(cut = s->sample(relaxation(), x0, o));
        CHECK((cut.budget_exhausted && !cut.stopped && cut.iterations == 3));
        const std::vector<float> t = cut.t.to_vector();
        CHECK(*std::max_element(t.begin(), t.end()) < 1.f);
        CHECK(cut.x.to_vector() == cut.trajectory.back().to_vector());
        CHECK(cut.trajectory_times.back().to_vector() == t);
    }
    SamplerOptions bad;
    bad.rtol = bad.atol = 0.0;
    CHECK_THROWS_AS(s->sample(relaxation(), x0, bad), Error);
    bad.rtol = 1e-3;
    bad.max_steps = 0;
    CHECK_THROWS_AS(s->sample(relaxation(), x0, bad), Error);
}

// ---------------------------------------------------------------- bookkeeping

TEST_CASE("fixed-step samplers: grids, evaluation counts and trajectories") {
    NoGradGuard no_grad;
    const Tensor x0 = Tensor::from_vector({0.1f, 0.05f, 0.2f, 0.15f}, {4, 1});
    for (const std::string& name : sampler_names()) {
        CAPTURE(name);
        REQUIRE_MESSAGE(stages_per_step().count(name), "add " << name << "'s calls per step to stages_per_step()");
        const int64_t stages = stages_per_step().at(name);
        auto s = make_sampler(name);
        std::vector<float> seen;  // the time of every call
        const VelocityField v = [&](const Tensor& x, const Tensor& t) {
            seen.push_back(t.to_vector()[0]);
            return logistic()(x, t);
        };
        SamplerOptions o = fixed(12);
        o.record_trajectory = true;
        SampleResult r = s->sample(v, x0, o);
        CHECK((r.nfe == 12 * stages && r.row_evaluations == 4 * r.nfe));
        CHECK((r.accepted == 12 && r.rejected == 0 && !r.stopped && !r.budget_exhausted));
        CHECK(r.t.to_vector() == std::vector<float>(4, 1.f));
        REQUIRE((r.trajectory.size() == 13 && r.trajectory_times.size() == 13));
        CHECK((r.trajectory.front().to_vector() == x0.to_vector() && r.trajectory.back().to_vector() == r.x.to_vector()));
        for (size_t k = 0; k < 13; ++k)
            CHECK(r.trajectory_times[k].to_vector() == std::vector<float>(4, static_cast<float>(k / 12.0)));

        // an explicit grid: every step's first stage sits on a grid time
        seen.clear();
        o.times = {0.0, 0.1, 0.5, 1.0};
        r = s->sample(v, x0, o);
        REQUIRE(r.trajectory_times.size() == 4);
        for (size_t i = 0; i < 4; ++i)
            CHECK(r.trajectory_times[i].to_vector() == std::vector<float>(4, static_cast<float>(o.times[i])));
        REQUIRE(seen.size() == static_cast<size_t>(3 * stages));
        CHECK((seen[0] == 0.f && seen[stages] == 0.1f && seen[2 * stages] == 0.5f));
        // the shifted grid by name, and bad grids
        o.times.clear();
        o.grid = "shifted";
        o.shift = 3.0;
        o.steps = 2;
        CHECK(s->sample(v, x0, o).trajectory_times[1].to_vector()[0] == doctest::Approx(0.75));
        o.times = {0.0, 0.6, 0.4, 1.0};
        CHECK_THROWS_AS(s->sample(v, x0, o), Error);
        o.times.clear();
        o.grid = "nope";
        CHECK_THROWS_AS(s->sample(v, x0, o), Error);
        o = fixed(4);  // no trajectory unless asked
        CHECK(s->sample(v, x0, o).trajectory.empty());
    }
}

TEST_CASE("the callback sees every accepted step and can stop sampling") {
    NoGradGuard no_grad;
    const Tensor x0 = logistic_x0();
    for (const std::string& name : sampler_names()) {
        for (bool adaptive : {false, true}) {
            if (adaptive && !make_sampler(name)->adaptive()) continue;
            CAPTURE(name);
            CAPTURE(adaptive);
            auto s = make_sampler(name);
            SamplerOptions o = fixed(10);
            o.adaptive = adaptive;
            o.record_trajectory = true;
            std::vector<StepInfo> seen;
            o.callback = [&](const StepInfo& info) {
                seen.push_back(info);
                return seen.size() < 3;
            };
            const SampleResult r = s->sample(logistic(), x0, o);
            REQUIRE(seen.size() == 3);
            CHECK((r.stopped && !r.budget_exhausted && r.trajectory.size() == 4));  // x0 and three steps
            for (size_t i = 0; i < 3; ++i) {
                CHECK(seen[i].step == static_cast<int64_t>(i + 1));
                CHECK(seen[i].total_steps == (adaptive ? -1 : 10));
                const std::vector<float> times = seen[i].times.to_vector();  // t is the earliest row's
                REQUIRE(times.size() == 3);
                CHECK(*std::min_element(times.begin(), times.end()) == static_cast<float>(seen[i].t));
                if (!adaptive) CHECK(times == std::vector<float>(3, static_cast<float>(seen[i].t)));
                CHECK(seen[i].x.to_vector() == r.trajectory[i + 1].to_vector());
                CHECK(seen[i].row_evaluations == 3 * seen[i].nfe);
                if (i > 0) CHECK((seen[i].t > seen[i - 1].t && seen[i].nfe > seen[i - 1].nfe));
            }
            if (!adaptive) CHECK(seen[2].t == doctest::Approx(0.3));
            CHECK(seen[2].nfe == r.nfe);
            const std::vector<float> t = r.t.to_vector();
            CHECK(t == seen[2].times.to_vector());
            CHECK(*std::min_element(t.begin(), t.end()) < 1.f);
            CHECK(r.x.to_vector() == seen[2].x.to_vector());

            // a callback that always continues changes nothing
            o.callback = [](const StepInfo&) { return true; };
            const SampleResult full = s->sample(logistic(), x0, o);
            CHECK_FALSE(full.stopped);
            o.callback = nullptr;
            CHECK(full.x.to_vector() == s->sample(logistic(), x0, o).x.to_vector());
        }
    }
}

// ---------------------------------------------------------------- SPEC 1.h property 5

TEST_CASE("SPEC 1.h property 5: every sampler carries N(0, 1) to N(mu, sigma^2) along v*") {
    NoGradGuard no_grad;
    constexpr int64_t n = 20000;
    Generator gen(1234, 2);
    const Tensor x0 = Tensor::normal({n, 1}, gen);
    const std::vector<float> z = x0.to_vector();
    const std::map<int, int64_t> steps{{1, 200}, {2, 40}, {4, 10}, {5, 10}};
    for (const std::string& name : sampler_names()) {
        CAPTURE(name);
        auto s = make_sampler(name);
        REQUIRE(steps.count(s->order()));
        SamplerOptions o;
        o.steps = steps.at(s->order());
        o.record_trajectory = true;
        const SampleResult r = s->sample(gaussian_velocity(), x0, o);
        double m, sd;
        mean_std(r.x, m, sd);
        MESSAGE(name << ": mean " << m << ", std " << sd << " (nfe " << r.nfe << ")");
        CHECK(std::fabs(m - kMu) <= 0.03);
        CHECK(std::fabs(sd - kSigma) <= 0.03);
        // the flow is x_t = t mu + sqrt((1 - t)^2 + t^2 sigma^2) x0 sample by sample
        const std::vector<float> x1 = r.x.to_vector();
        double worst = 0.0;
        for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(static_cast<double>(x1[i]) - (kMu + kSigma * z[i])));
        CHECK(worst <= (s->order() == 1 ? 0.05 : 2e-3));

        // intermediate times: mean t mu, variance (1 - t)^2 + t^2 sigma^2
        REQUIRE(r.trajectory.size() == r.trajectory_times.size());
        REQUIRE(r.trajectory.size() >= 3);
        for (size_t k = 0; k < r.trajectory.size(); ++k) {
            const std::vector<float> tk = r.trajectory_times[k].to_vector();
            if (!s->adaptive()) {
                const double t = tk[0];
                double mk, sk;
                mean_std(r.trajectory[k], mk, sk);
                CHECK(std::fabs(mk - t * kMu) <= 0.03);
                CHECK(std::fabs(sk * sk - flow_var(t)) <= 0.03);
            } else {  // rows at their own times: check each against the exact flow
                const std::vector<float> xk = r.trajectory[k].to_vector();
                double w = 0.0;
                for (int64_t i = 0; i < n; ++i)
                    w = std::max(w, std::fabs(xk[i] - (tk[i] * kMu + std::sqrt(flow_var(tk[i])) * z[i])));
                CHECK(w <= 2e-3);
            }
        }
    }
}

// ---------------------------------------------------------------- shapes, autograd, errors

TEST_CASE("samplers treat x of any rank [N, ...] alike") {
    NoGradGuard no_grad;
    Generator gen(7);
    const Tensor flat = Tensor::normal({6, 8}, gen);
    const Tensor image = flat.reshape({6, 2, 2, 2});
    for (const std::string& name : sampler_names()) {
        for (bool per_sample : {true, false}) {
            CAPTURE(name);
            CAPTURE(per_sample);
            auto s = make_sampler(name);
            SamplerOptions o;
            o.steps = 8;
            o.per_sample = per_sample;
            const SampleResult a = s->sample(gaussian_velocity(), flat, o);
            const SampleResult b = s->sample(gaussian_velocity(), image, o);
            CHECK(b.x.shape() == Shape{6, 2, 2, 2});
            CHECK(a.x.to_vector() == b.x.to_vector());
            CHECK(a.nfe == b.nfe);
        }
    }
}

TEST_CASE("samplers record a graph only when the caller's grad mode is on") {
    // dx/dt = k cos(k t) x is linear in x, so with the steps held fixed x1 = G_r x0 row by row and
    // d sum(x1) / d x0 = x1 / x0
    const VelocityField v = [](const Tensor& x, const Tensor& t) { return mul(x, per_row(cos(t * 3.f) * 3.f, x)); };
    // rows of different sizes take different steps (per-sample dopri5 gathers and scatters rows)
    const std::vector<float> init{1.f, -0.5f, 2.f, 40.f, 30.f, -20.f, 0.1f, 0.2f, 0.3f, 3.f, -3.f, 1.f};
    for (const std::string& name : sampler_names()) {
        CAPTURE(name);
        auto s = make_sampler(name);
        SamplerOptions o;
        o.steps = 10;
        o.rtol = o.atol = 1e-3;  // far above float32 noise in the error estimate: same steps below
        Tensor x0 = Tensor::from_vector(init, {4, 3});
        x0.requires_grad_();
        const SampleResult r = s->sample(v, x0, o);
        REQUIRE(r.x.requires_grad());
        sum(r.x).backward();
        const std::vector<float> g = x0.grad().to_vector(), x1 = r.x.to_vector();
        for (size_t i = 0; i < init.size(); ++i) CHECK(g[i] == doctest::Approx(x1[i] / init[i]).epsilon(1e-5));

        NoGradGuard no_grad;
        const SampleResult plain = s->sample(v, x0, o);
        CHECK_FALSE(plain.x.requires_grad());
        // recording runs op by op (error norms too), plain sampling fused: the same steps either way
        CHECK((plain.nfe == r.nfe && plain.accepted == r.accepted && plain.rejected == r.rejected));
        const std::vector<float> y = plain.x.to_vector();
        for (size_t i = 0; i < init.size(); ++i) CHECK(y[i] == doctest::Approx(x1[i]).epsilon(1e-5));
    }
}

TEST_CASE("samplers reject bad input with rflow::Error") {
    NoGradGuard no_grad;
    const Tensor x0 = Tensor::ones({3, 2});
    for (const std::string& name : sampler_names()) {
        CAPTURE(name);
        auto s = make_sampler(name);
        const VelocityField wrong = [](const Tensor& x, const Tensor&) { return x.slice(1, 0, 1); };
        CHECK_THROWS_WITH_AS(s->sample(wrong, x0), doctest::Contains("velocity field returned"), Error);
        CHECK_THROWS_AS(s->sample(VelocityField(), x0), Error);
        CHECK_THROWS_AS(s->sample(chain(2), Tensor::scalar(1.f)), Error);
        CHECK_THROWS_AS(s->sample(chain(2), Tensor()), Error);
        // an empty batch costs nothing
        const SampleResult empty = s->sample(chain(2), Tensor::zeros({0, 2}));
        CHECK((empty.nfe == 0 && empty.x.shape() == Shape{0, 2}));
    }
    // a velocity that turns non-finite makes dopri5's step underflow: an error, not a hang
    const VelocityField blows_up = [](const Tensor& x, const Tensor& t) {
        return mul(x, per_row(div(Tensor::ones(t.shape()), rsub(mul(t, 2.f), 1.f)), x));  // 1 / (1 - 2t)
    };
    CHECK_THROWS_WITH_AS(make_sampler("dopri5")->sample(blows_up, x0), doctest::Contains("underflow"), Error);
}

TEST_CASE("sample_euler is the euler sampler on a uniform grid") {
    NoGradGuard no_grad;
    const Tensor x0 = logistic_x0();
    SampleStats stats;
    const Tensor a = sample_euler(logistic(), x0, 25, &stats);
    sample_euler(logistic(), x0, 5, &stats);
    CHECK(stats.nfe == 30);  // adds up over runs
    SamplerOptions o;
    o.steps = 25;
    CHECK(a.to_vector() == make_sampler("euler")->sample(logistic(), x0, o).x.to_vector());
    CHECK(sample("euler", logistic(), x0, o).x.to_vector() == a.to_vector());
    // x_{k+1} = x_k + h v(x_k, t_k) written out for one step
    const std::vector<float> x = x0.to_vector(), y = sample_euler(logistic(), x0, 1).to_vector();
    for (size_t i = 0; i < 3; ++i) CHECK(y[i] == doctest::Approx(x[i] + 2 * kRate * x[i] * (1 - x[i])));
    CHECK_THROWS_AS(sample_euler(logistic(), x0, 0), Error);
}
