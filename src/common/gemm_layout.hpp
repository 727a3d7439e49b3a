// The GEMM as both backends read it (src/cpu/gemm.cpp, src/cuda/gemm.cu): each operand's last two
// axes row-major (stride[-1] == 1) or column-major (stride[-2] == 1, e.g. a transposed view), so
// either goes to BLAS without a copy, plus the sizes and batch strides. Internal header.
#pragma once

#include <algorithm>
#include <cstdint>

#include "rflow/error.hpp"
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

/// One (batched) GEMM out[b] = a[b] @ b[b] as both backends read it: operands in a BLAS-readable
/// layout, sizes, and the batch strides of a and b (0 for rank 2 or a broadcast operand).
struct GemmProblem {
    Tensor a, b;
    GemmLayout la{}, lb{};
    int64_t m = 0, k = 0, n = 0, batch = 1, sa = 0, sb = 0;
};

/// The problem of a [.., M, K] @ b [.., K, N] (rank 2, or rank 3 with the batch first) into a
/// contiguous `out`.
inline GemmProblem gemm_problem(const Tensor& a, const Tensor& b, const Tensor& out) {
    RFLOW_CHECK(out.is_contiguous(), "gemm output must be contiguous");
    GemmProblem p;
    p.a = gemm_operand(a, p.la);
    p.b = gemm_operand(b, p.lb);
    const int64_t r = p.a.dim();
    p.m = p.a.size(r - 2);
    p.k = p.a.size(r - 1);
    p.n = p.b.size(r - 1);
    if (r == 3) {
        p.batch = p.a.size(0);
        p.sa = p.a.strides()[0];
        p.sb = p.b.strides()[0];
    }
    return p;
}

}  // namespace rflow::detail
