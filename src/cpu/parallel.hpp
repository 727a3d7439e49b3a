// parallel_for over [0, n) in chunks of at least `grain` items, on the threads set by
// rflow::set_num_threads (OpenMP). Work items are independent, so results never depend on the
// thread count.
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

/// Elements below which an element-wise op stays on one thread (thread start-up costs more).
constexpr int64_t kElementwiseGrain = 1 << 15;

}  // namespace rflow::cpu
