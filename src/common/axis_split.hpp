// A shape viewed as [outer, size(dim), inner]: the gather/scatter geometry shared by the CPU
// (src/cpu/index.cpp) and CUDA (src/cuda/index.cu) index ops. Internal header.
#pragma once

#include <cstdint>

#include "rflow/tensor.hpp"

namespace rflow::detail {

/// A shape viewed as [outer, shape[dim], inner] (gather/scatter along one axis).
inline void split_at_axis(const Shape& s, int64_t dim, int64_t& outer, int64_t& inner) {
    outer = 1;
    inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= s[d];
    for (size_t d = static_cast<size_t>(dim) + 1; d < s.size(); ++d) inner *= s[d];
}

}  // namespace rflow::detail
