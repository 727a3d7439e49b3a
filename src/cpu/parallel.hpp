// parallel_for over [0, n) in chunks of at least `grain` items, on the threads set by
// rflow::set_num_threads (OpenMP). Work items are independent, so results never depend on the
// thread count; where the arithmetic depends on where the range is cut (a BLAS call over a block of
// rows), parallel_fixed_blocks cuts it where the shape alone says.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

namespace rflow::cpu {

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
    const int threads = Eigen::nbThreads();
    const int64_t chunks = std::min<int64_t>(threads, grain > 0 ? n / grain : 1);
    if (chunks <= 1) {
        if (n > 0) f(int64_t{0}, n);
        return;
    }
#if defined(_OPENMP)
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
        f(begin, end);
    }
#else
    f(int64_t{0}, n);
#endif
}

/// Most blocks parallel_fixed_blocks cuts a range into.
constexpr int64_t kFixedBlocks = 16;

/// Runs f(begin, end) over [0, n) cut into blocks whose bounds depend on n and `grain` only (at
/// least `grain` items, a multiple of 16, at most kFixedBlocks blocks), the threads sharing out
/// whole blocks. For work whose rounding depends on the cut: OpenBLAS's sgemm may round a row of C
/// differently in a 16-row call than in a 32-row one (seen on an AMD EPYC where OpenBLAS 0.3.21
/// picks its Cooperlake kernels; not on the Intel machines before it), so cuts that followed the
/// thread count would make results depend on it.
template <class F>
void parallel_fixed_blocks(int64_t n, int64_t grain, F&& f) {
    if (n <= 0) return;
    int64_t block = std::max<int64_t>({grain, (n + kFixedBlocks - 1) / kFixedBlocks, int64_t{1}});
    block = (block + 15) / 16 * 16;
    const int64_t blocks = (n + block - 1) / block;
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) f(i * block, std::min(n, (i + 1) * block));
    });
}

/// Elements below which an element-wise op stays on one thread (thread start-up costs more).
constexpr int64_t kElementwiseGrain = 1 << 15;

}  // namespace rflow::cpu
