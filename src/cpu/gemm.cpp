// CPU GEMM and batched GEMM: OpenBLAS sgemm when the build found it (about 1.15-1.3x faster
// than Eigen's kernels on the MLP shapes here, measured by bench/), else Eigen's blocked,
// vectorised product kernels.
//
// Each operand's last two axes may be row-major (stride[-1] == 1) or column-major
// (stride[-2] == 1, e.g. a transposed view), so W^T and X^T in backward passes cost no copy:
// a column-major operand is passed to sgemm as a transposed row-major one.
//
// Threads: OpenBLAS runs single-threaded and we split C into row (or column) blocks across the
// OpenMP threads of parallel_for, so one thread pool serves GEMMs and element-wise ops (two pools
// spinning against each other on 2 cores cost 3x here). K is never split, so results do not
// depend on the thread count.
#include <Eigen/Core>
#ifdef RFLOW_HAVE_CBLAS
#include <cblas.h>
#endif

#include "../backend.hpp"
#include "../common/gemm_layout.hpp"
#include "parallel.hpp"
#include "../core/tensor_impl.hpp"
#include "rflow/error.hpp"

namespace rflow::cpu {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <class M>
using CMap = Eigen::Map<const M, 0, Eigen::OuterStride<>>;
using OutMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;

using Layout = detail::GemmLayout;

template <class MA, class MB>
void product(const float* a, Layout la, const float* b, Layout lb, float* c, int64_t ldc, int64_t m,
             int64_t k, int64_t n, float alpha, float beta) {
    CMap<MA> A(a, m, k, Eigen::OuterStride<>(la.ld));
    CMap<MB> B(b, k, n, Eigen::OuterStride<>(lb.ld));
    OutMap C(c, m, n, Eigen::OuterStride<>(ldc));
    if (beta == 0.f) {
        if (alpha == 1.f) C.noalias() = A * B;
        else C.noalias() = alpha * (A * B);
    } else {
        if (beta != 1.f) C *= beta;
        C.noalias() += alpha * (A * B);
    }
}

#ifdef RFLOW_HAVE_CBLAS
// OpenBLAS's own threads stay off; parallelism comes from parallel_for below.
const bool g_blas_single_threaded = (openblas_set_num_threads(1), true);

// C[m, n] = alpha A[m, k] B[k, n] + beta C, split into blocks of rows of C (or of columns when
// C is short and wide); each block is one single-threaded sgemm. The blocks depend on the shape
// only (parallel_fixed_blocks), so the bits do not depend on the thread count.
void blas_gemm(const float* a, Layout la, const float* b, Layout lb, float* c, int64_t m, int64_t k, int64_t n,
               float alpha, float beta) {
    auto call = [&](const float* pa, const float* pb, float* pc, int64_t mm, int64_t nn) {
        cblas_sgemm(CblasRowMajor, la.row ? CblasNoTrans : CblasTrans, lb.row ? CblasNoTrans : CblasTrans,
                    static_cast<int>(mm), static_cast<int>(nn), static_cast<int>(k), alpha, pa,
                    static_cast<int>(la.ld), pb, static_cast<int>(lb.ld), beta, pc, static_cast<int>(n));
    };
    // Each block is one sgemm call that packs its share of A and all of B again, so blocks are
    // kept big (32 MFLOP and up): cutting the toy MLP's 134 MFLOP GEMMs in 8 cost 9 % of its
    // steps/s against one call per thread; in 4, about 3 %.
    const int64_t flops = 2 * m * n * k;
    constexpr int64_t kMinFlopsPerBlock = int64_t{1} << 25;
    if (m >= n) {  // split rows of C: row r of A starts at r * lda (row-major) or r (transposed)
        parallel_fixed_blocks(m, std::max<int64_t>(16, m * kMinFlopsPerBlock / std::max<int64_t>(flops, 1)),
                              [&](int64_t r0, int64_t r1) {
                                  call(a + (la.row ? r0 * la.ld : r0), b, c + r0 * n, r1 - r0, n);
                              });
    } else {  // split columns of C: column j of B starts at j (row-major) or j * ldb (transposed)
        parallel_fixed_blocks(n, std::max<int64_t>(16, n * kMinFlopsPerBlock / std::max<int64_t>(flops, 1)),
                              [&](int64_t c0, int64_t c1) {
                                  call(a, b + (lb.row ? c0 : c0 * lb.ld), c + c0, m, c1 - c0);
                              });
    }
}
#endif

}  // namespace

void gemm(const Tensor& a_in, const Tensor& b_in, Tensor& out, float alpha, float beta) {
    const detail::GemmProblem g = detail::gemm_problem(a_in, b_in, out);
    const Layout la = g.la, lb = g.lb;
    const int64_t m = g.m, k = g.k, n = g.n;
    for (int64_t i = 0; i < g.batch; ++i) {
        const float* pa = g.a.data() + i * g.sa;
        const float* pb = g.b.data() + i * g.sb;
        float* pc = out.data() + i * m * n;
        if (m == 0 || n == 0) continue;
        if (k == 0) {
            if (beta == 0.f) std::fill(pc, pc + m * n, 0.f);
            else for (int64_t j = 0; j < m * n; ++j) pc[j] *= beta;
            continue;
        }
#ifdef RFLOW_HAVE_CBLAS
        blas_gemm(pa, la, pb, lb, pc, m, k, n, alpha, beta);
        continue;
#endif
        if (la.row && lb.row) product<RowMat, RowMat>(pa, la, pb, lb, pc, n, m, k, n, alpha, beta);
        else if (la.row) product<RowMat, ColMat>(pa, la, pb, lb, pc, n, m, k, n, alpha, beta);
        else if (lb.row) product<ColMat, RowMat>(pa, la, pb, lb, pc, n, m, k, n, alpha, beta);
        else product<ColMat, ColMat>(pa, la, pb, lb, pc, n, m, k, n, alpha, beta);
    }
}

}  // namespace rflow::cpu
