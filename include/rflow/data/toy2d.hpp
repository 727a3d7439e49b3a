// Toy 2-D datasets generated from the Philox stream: 8gaussians, moons, checkerboard, rings, spiral.
#pragma once

#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"

namespace rflow::data {

/// n points [n, 2] from the named toy distribution; advances `gen`. Error names unknown datasets.
RFLOW_API Tensor sample_toy(const std::string& name, int64_t n, Generator& gen);
/// The registered names, for --help and for tests that loop over every dataset.
RFLOW_API std::vector<std::string> toy_dataset_names();

}  // namespace rflow::data
