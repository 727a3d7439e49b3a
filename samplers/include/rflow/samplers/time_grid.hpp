// Time grids for fixed-step samplers: K + 1 increasing times from 0 (noise) to 1 (data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"

namespace rflow::samplers {

/// t' = s t / (1 + (s - 1) t): a monotone map of [0, 1] onto itself with 0 -> 0 and 1 -> 1.
/// s > 1 moves grid points toward t = 1 (smaller steps near the data end), s < 1 toward t = 0
/// (smaller steps near the noise end); s = 1 is the identity. SD3's "shift 3", written for time
/// running from data to noise, is s = 1/3 here. Throws unless s > 0 and finite.
RFLOW_API double shift_time(double t, double shift);

/// steps + 1 times k / steps, k = 0 .. steps (exactly 0 and 1 at the ends).
RFLOW_API std::vector<double> uniform_grid(int64_t steps);

/// The uniform grid mapped through shift_time(., shift).
RFLOW_API std::vector<double> shifted_grid(int64_t steps, double shift);

/// A user's grid, checked: at least two finite times, starting at 0, ending at 1, strictly
/// increasing. Returns it unchanged; throws rflow::Error naming the first bad entry.
RFLOW_API std::vector<double> grid_from_times(const std::vector<double>& times);

/// A grid by name: "uniform" (shift ignored) or "shifted". Unknown names throw, listing these.
RFLOW_API std::vector<double> make_grid(const std::string& name, int64_t steps, double shift = 1.0);

/// Names make_grid accepts.
RFLOW_API std::vector<std::string> grid_names();

}  // namespace rflow::samplers
