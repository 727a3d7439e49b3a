// Time grids for fixed-step samplers: uniform, shifted, and validated user lists.
#include "rflow/samplers/time_grid.hpp"

#include <cmath>

#include "rflow/error.hpp"

namespace rflow::samplers {

double shift_time(double t, double shift) {
    RFLOW_CHECK(std::isfinite(shift) && shift > 0.0, "time grid: shift must be > 0, got " << shift);
    // t' = s t / (1 + (s - 1) t); the denominator is >= min(1, s) > 0 on [0, 1]
    return shift * t / (1.0 + (shift - 1.0) * t);
}

std::vector<double> uniform_grid(int64_t steps) {
    RFLOW_CHECK(steps >= 1, "time grid: steps must be >= 1, got " << steps);
    std::vector<double> t(static_cast<size_t>(steps) + 1);
    for (int64_t k = 0; k <= steps; ++k) t[k] = static_cast<double>(k) / static_cast<double>(steps);
    t.front() = 0.0;
    t.back() = 1.0;
    return t;
}

std::vector<double> shifted_grid(int64_t steps, double shift) {
    std::vector<double> t = uniform_grid(steps);
    for (double& x : t) x = shift_time(x, shift);
    t.front() = 0.0;  // exact ends: (1 + (s - 1)) need not round to s
    t.back() = 1.0;
    return t;
}

std::vector<double> grid_from_times(const std::vector<double>& times) {
    RFLOW_CHECK(times.size() >= 2, "time grid: need at least 2 times (0 and 1), got " << times.size());
    for (size_t i = 0; i < times.size(); ++i)
        RFLOW_CHECK(std::isfinite(times[i]), "time grid: times[" << i << "] is not finite");
    RFLOW_CHECK(times.front() == 0.0, "time grid: must start at t = 0 (noise), times[0] = " << times.front());
    RFLOW_CHECK(times.back() == 1.0,
                "time grid: must end at t = 1 (data), times[" << times.size() - 1 << "] = " << times.back());
    for (size_t i = 1; i < times.size(); ++i)
        RFLOW_CHECK(times[i] > times[i - 1], "time grid: times must increase strictly, but times["
                                                 << i << "] = " << times[i] << " <= times[" << i - 1
                                                 << "] = " << times[i - 1]);
    return times;
}

std::vector<std::string> grid_names() { return {"uniform", "shifted"}; }

std::vector<double> make_grid(const std::string& name, int64_t steps, double shift) {
    if (name == "uniform") return uniform_grid(steps);
    if (name == "shifted") return shifted_grid(steps, shift);
    std::string known;
    for (const std::string& n : grid_names()) known += (known.empty() ? "" : ", ") + n;
    RFLOW_FAIL("unknown time grid '" << name << "' (known: " << known << ")");
}

}  // namespace rflow::samplers
