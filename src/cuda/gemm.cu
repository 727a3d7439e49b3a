// CUDA GEMM and batched GEMM (twin of src/cpu/gemm.cpp) through cuBLAS.
//
// rflow is row-major and cuBLAS column-major. A row-major C[m, n] = A[m, k] B[k, n] is the
// column-major C^T[n, m] = B^T[n, k] A^T[k, m], so cuBLAS is called with the operands swapped. An
// operand whose last two axes are row-major (stride[-1] == 1) is, read column-major, already the
// transpose cuBLAS wants (op N); a column-major one (stride[-2] == 1, e.g. a transposed view) is
// passed with op T. Anything else is copied contiguous first. A rank-3 batch uses
// cublasSgemmStridedBatched with the operands' batch strides (0 for a broadcast operand).
// TF32 tensor cores are used when rflow::set_allow_tf32(true) was called (blas() applies it).
#include "../common/gemm_layout.hpp"
#include "cuda_common.hpp"

namespace rflow::cuda {

namespace {

using Layout = detail::GemmLayout;

__global__ void scale_kernel(float* c, int64_t n, float beta) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        c[i] = beta == 0.f ? 0.f : beta * c[i];  // beta = 0 overwrites (NaN in c must not survive)
}

/// C[b] = alpha A[b] B[b] + beta C[b] for b < batch, row-major m x n output with ldc = n.
void launch_gemm(const float* a, Layout la, int64_t sa, const float* b, Layout lb, int64_t sb, float* c, int64_t m,
                 int64_t k, int64_t n, int64_t batch, float alpha, float beta, cudaStream_t s) {
    if (m == 0 || n == 0 || batch == 0) return;
    if (k == 0) {  // an empty sum: C = beta C
        scale_kernel<<<grid_for(batch * m * n), kThreads, 0, s>>>(c, batch * m * n, beta);
        RFLOW_CUDA_LAUNCHED();
        return;
    }
    cublasHandle_t h = blas();
    const cublasOperation_t ob = lb.row ? CUBLAS_OP_N : CUBLAS_OP_T;  // B^T[n, k] column-major
    const cublasOperation_t oa = la.row ? CUBLAS_OP_N : CUBLAS_OP_T;  // A^T[k, m] column-major
    // Leading dimensions must be >= the column-major row count of the stored matrix, even for a
    // single row or column, where the stride is arbitrary.
    const int ldb = static_cast<int>(std::max<int64_t>(lb.ld, lb.row ? n : k));
    const int lda = static_cast<int>(std::max<int64_t>(la.ld, la.row ? k : m));
    const int N = static_cast<int>(n), M = static_cast<int>(m), K = static_cast<int>(k);
    if (batch == 1) {
        RFLOW_CUBLAS_CHECK(cublasSgemm(h, ob, oa, N, M, K, &alpha, b, ldb, a, lda, &beta, c, N));
    } else {
        RFLOW_CUBLAS_CHECK(cublasSgemmStridedBatched(h, ob, oa, N, M, K, &alpha, b, ldb, sb, a, lda, sa, &beta, c,
                                                     N, m * n, static_cast<int>(batch)));
    }
}

}  // namespace

void gemm(const Tensor& a_in, const Tensor& b_in, Tensor& out, float alpha, float beta) {
    const detail::GemmProblem g = detail::gemm_problem(a_in, b_in, out);
    RFLOW_CHECK(g.m < (int64_t{1} << 31) && g.n < (int64_t{1} << 31) && g.k < (int64_t{1} << 31),
                "gemm: a dimension exceeds cuBLAS's 32-bit sizes");
    launch_gemm(dptr(g.a), g.la, g.sa, dptr(g.b), g.lb, g.sb, dptr(out), g.m, g.k, g.n, g.batch, alpha, beta,
                stream());
}

}  // namespace rflow::cuda
