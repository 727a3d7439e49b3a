// Fixed-step explicit Runge-Kutta samplers: Euler, midpoint, Heun and classic RK4 as Butcher
// tableaus, and the one loop that runs any tableau over a time grid from t = 0 to t = 1.
#include "explicit_rk.hpp"

#include "rflow/error.hpp"
#include "rflow/samplers/time_grid.hpp"
#include "step_kernels.hpp"

namespace rflow::samplers::detail {

// x_{n+1} = x_n + h v(x_n, t_n)                                              (order 1)
const Tableau& euler_tableau() {
    static const Tableau t{"euler", 1, {0.0}, {{}}, {1.0}};
    return t;
}

// Explicit midpoint: k1 = v(x, t), k2 = v(x + h/2 k1, t + h/2), x_{n+1} = x + h k2   (order 2)
const Tableau& midpoint_tableau() {
    static const Tableau t{"midpoint", 2, {0.0, 0.5}, {{}, {0.5}}, {0.0, 1.0}};
    return t;
}

// Heun (explicit trapezoid): k2 = v(x + h k1, t + h), x_{n+1} = x + h (k1 + k2) / 2  (order 2)
const Tableau& heun_tableau() {
    static const Tableau t{"heun", 2, {0.0, 1.0}, {{}, {1.0}}, {0.5, 0.5}};
    return t;
}

// Classic RK4: stages at t, t + h/2, t + h/2, t + h; weights 1/6, 1/3, 1/3, 1/6     (order 4)
const Tableau& rk4_tableau() {
    static const Tableau t{"rk4", 4, {0.0, 0.5, 0.5, 1.0},
                           {{}, {0.5}, {0.0, 0.5}, {0.0, 0.0, 1.0}},
                           {1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0}};
    return t;
}

// Dormand & Prince (1980), "A family of embedded Runge-Kutta formulae", the 5th-order solution
// (Hairer, Norsett & Wanner, Solving ODEs I, Table 5.2). b equals the seventh row of a, which is
// what makes the method FSAL: k7 = v(x_{n+1}, t + h) is the next step's k1.
const Tableau& dopri5_tableau() {
    static const Tableau t{
        "dopri5", 5, {0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0},
        {{},
         {1.0 / 5.0},
         {3.0 / 40.0, 9.0 / 40.0},
         {44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0},
         {19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0},
         {9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0}},
        {35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0}};
    return t;
}

std::vector<double> resolve_grid(const SamplerOptions& options) {
    if (!options.times.empty()) return grid_from_times(options.times);
    return make_grid(options.grid, options.steps, options.shift);
}

SampleResult run_fixed_step(const Tableau& method, const VelocityField& v, const Tensor& x0,
                            const SamplerOptions& options) {
    const char* who = method.name.c_str();
    check_x0(x0, who);
    RFLOW_CHECK(v, who << ": the velocity field is empty");
    const std::vector<double> grid = resolve_grid(options);
    const int64_t steps = static_cast<int64_t>(grid.size()) - 1;
    const int64_t n = x0.size(0);
    const Device dev = x0.device();
    const size_t s = method.b.size();

    SampleResult res;
    Counter count;
    Tensor x = x0;
    double t_now = 0.0;
    if (options.record_trajectory) {
        res.trajectory.reserve(static_cast<size_t>(steps) + 1);
        res.trajectory_times.reserve(static_cast<size_t>(steps) + 1);
        res.trajectory.push_back(x0);
        res.trajectory_times.push_back(Tensor::zeros({n}, dev));
    }

    std::vector<Term> stage_terms;  // reused: a[i][j] k_j for the stage being built
    std::vector<Tensor> k(s);
    for (int64_t step = 0; step < steps && n > 0; ++step) {  // an empty batch costs no calls
        const double t = grid[step];
        const double h = grid[step + 1] - t;
        for (size_t i = 0; i < s; ++i) {
            // stage input x + h sum_{j<i} a_ij k_j, at time t + c_i h
            Tensor xi = x;
            if (i > 0) {
                stage_terms.clear();
                for (size_t j = 0; j < i; ++j) stage_terms.push_back({method.a[i][j], k[j]});
                xi = combine(x, {h}, stage_terms);
            }
            k[i] = evaluate(v, xi, time_tensor({t + method.c[i] * h}, n, dev), count, who);
        }
        stage_terms.clear();
        for (size_t i = 0; i < s; ++i) stage_terms.push_back({method.b[i], k[i]});
        x = combine(x, {h}, stage_terms);  // x_{n+1} = x_n + h sum_i b_i k_i
        t_now = grid[step + 1];
        ++res.accepted;
        ++res.iterations;

        if (options.record_trajectory) {
            res.trajectory.push_back(x);
            res.trajectory_times.push_back(time_tensor({t_now}, n, dev));
        }
        if (options.callback) {
            StepInfo info;
            info.step = step + 1;
            info.total_steps = steps;
            info.t = t_now;
            info.times = time_tensor({t_now}, n, dev);
            info.x = x;
            info.nfe = count.nfe;
            info.row_evaluations = count.rows;
            if (!options.callback(info)) {
                res.stopped = step + 1 < steps;
                break;
            }
        }
    }
    for (Tensor& ki : k) ki = Tensor();  // drop the stages before returning
    res.x = x;
    res.t = time_tensor({t_now}, n, dev);
    res.nfe = count.nfe;
    res.row_evaluations = count.rows;
    return res;
}

namespace {

class FixedStepSampler final : public Sampler {
public:
    explicit FixedStepSampler(const Tableau& method) : method_(method) {}
    std::string name() const override { return method_.name; }
    int order() const override { return method_.order; }
    bool adaptive() const override { return false; }
    SampleResult sample(const VelocityField& v, const Tensor& x0, const SamplerOptions& options) const override {
        return run_fixed_step(method_, v, x0, options);
    }

private:
    const Tableau& method_;
};

}  // namespace

std::unique_ptr<Sampler> make_fixed_step_sampler(const Tableau& method) {
    return std::make_unique<FixedStepSampler>(method);
}

}  // namespace rflow::samplers::detail
