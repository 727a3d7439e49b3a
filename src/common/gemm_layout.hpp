// How a GEMM operand's last two axes sit in memory, shared by the CPU (src/cpu/gemm.cpp) and CUDA
// (src/cuda/gemm.cu) GEMMs: row-major (stride[-1] == 1) or column-major (stride[-2] == 1, e.g. a
// transposed view), so either is passed to BLAS without a copy. Internal header.
#pragma once

#include <algorithm>
#include <cstdint>

#include "rflow/tensor.hpp"

namespace rflow::detail {

struct GemmLayout {
    bool row;    ///< row-major last two axes
    int64_t ld;  ///< leading dimension: elements between rows (row-major) or columns (column-major)
};

/// The layout of t's last two axes; false when neither axis is unit-stride (copy it first).
inline bool gemm_layout(const Tensor& t, GemmLayout& l) {
    const int64_t r = t.dim();
    const int64_t rows = t.size(r - 2), cols = t.size(r - 1);
    const int64_t s0 = t.strides()[r - 2], s1 = t.strides()[r - 1];
    if ((s1 == 1 || cols == 1) && s0 >= std::max<int64_t>(cols, 1)) { l = {true, s0}; return true; }
    if ((s0 == 1 || rows == 1) && s1 >= std::max<int64_t>(rows, 1)) { l = {false, s1}; return true; }
    return false;
}

/// t itself when gemm_layout() reads it, else a contiguous copy; `l` is set either way. A 1 x 1
/// operand with strides <= 0 (an expanded scalar) stays as it is: any ld >= 1 reads it.
inline Tensor gemm_operand(const Tensor& t, GemmLayout& l) {
    if (gemm_layout(t, l)) return t;
    Tensor c = t.contiguous();
    if (!gemm_layout(c, l)) l = {true, std::max<int64_t>(c.size(-1), 1)};
    return c;
}

}  // namespace rflow::detail
