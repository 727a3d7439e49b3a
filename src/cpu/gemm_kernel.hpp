// A single-threaded row-major SGEMM on raw pointers, for kernels that do their own threading
// (src/cpu/conv.cpp): OpenBLAS when the build found it (src/cpu/gemm.cpp keeps OpenBLAS's own
// threads off), else Eigen's blocked product kernels.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#ifdef RFLOW_HAVE_CBLAS
#include <cblas.h>
#endif

namespace rflow::cpu {

namespace detail {

using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

template <class MA, class MB>
inline void eigen_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                       float beta, float* c, int64_t ldc) {
    Eigen::Map<const MA, 0, Eigen::OuterStride<>> A(a, m, k, Eigen::OuterStride<>(lda));
    Eigen::Map<const MB, 0, Eigen::OuterStride<>> B(b, k, n, Eigen::OuterStride<>(ldb));
    Eigen::Map<RowMatF, 0, Eigen::OuterStride<>> C(c, m, n, Eigen::OuterStride<>(ldc));
    if (beta == 0.f) C.noalias() = A * B;
    else C.noalias() += A * B;
}

}  // namespace detail

/// C[m, n] = op(A)[m, k] op(B)[k, n] + beta C (beta 0 or 1), all row-major with leading
/// dimensions lda, ldb, ldc; ta / tb: the operand is stored transposed ([k, m] / [n, k]).
inline void sgemm_serial(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                         const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (beta == 0.f)
            for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
        return;
    }
#ifdef RFLOW_HAVE_CBLAS
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n),
                int(k), 1.f, a, int(lda), b, int(ldb), beta, c, int(ldc));
#else
    using detail::ColMatF;
    using detail::RowMatF;
    // a row-major operand stored transposed is a column-major map of the operand itself
    if (!ta && !tb) detail::eigen_gemm<RowMatF, RowMatF>(m, n, k, a, lda, b, ldb, beta, c, ldc);
    else if (!ta) detail::eigen_gemm<RowMatF, ColMatF>(m, n, k, a, lda, b, ldb, beta, c, ldc);
    else if (!tb) detail::eigen_gemm<ColMatF, RowMatF>(m, n, k, a, lda, b, ldb, beta, c, ldc);
    else detail::eigen_gemm<ColMatF, ColMatF>(m, n, k, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace rflow::cpu
