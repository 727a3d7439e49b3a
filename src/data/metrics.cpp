// Sliced Wasserstein and MMD between point clouds, computed in double on the host.
#include "rflow/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "rflow/error.hpp"

namespace rflow {

double sliced_wasserstein(const Tensor& a, const Tensor& b, Generator& gen, int projections) {
    RFLOW_CHECK(a.dim() == 2 && a.shape() == b.shape() && a.size(0) > 0,
                "sliced_wasserstein: need two non-empty [N, D] clouds of one shape, got " << shape_str(a.shape())
                                                                                         << " and " << shape_str(b.shape()));
    const int64_t n = a.size(0), d = a.size(1);
    std::vector<float> va = a.to_vector(), vb = b.to_vector(), dirs(projections * d);
    gen.normal(dirs.data(), projections * d);
    std::vector<double> pa(n), pb(n);
    double total = 0;
    for (int p = 0; p < projections; ++p) {
        double norm = 0;
        for (int64_t k = 0; k < d; ++k) norm += double(dirs[p * d + k]) * dirs[p * d + k];
        norm = std::sqrt(std::max(norm, 1e-12));
        for (int64_t i = 0; i < n; ++i) {
            double sa = 0, sb = 0;
            for (int64_t k = 0; k < d; ++k) {
                sa += va[i * d + k] * dirs[p * d + k];
                sb += vb[i * d + k] * dirs[p * d + k];
            }
            pa[i] = sa / norm;
            pb[i] = sb / norm;
        }
        std::sort(pa.begin(), pa.end());
        std::sort(pb.begin(), pb.end());
        double w = 0;
        for (int64_t i = 0; i < n; ++i) w += (pa[i] - pb[i]) * (pa[i] - pb[i]);
        total += w / n;
    }
    return std::sqrt(total / projections);
}

double mmd_rbf(const Tensor& a, const Tensor& b, const std::vector<double>& bandwidths) {
    RFLOW_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) && a.size(0) > 1 && b.size(0) > 1,
                "mmd_rbf: need [N, D] and [M, D] clouds with N, M > 1, got " << shape_str(a.shape()) << " and "
                                                                             << shape_str(b.shape()));
    const int64_t n = a.size(0), m = b.size(0), d = a.size(1);
    std::vector<float> va = a.to_vector(), vb = b.to_vector();
    auto k = [&](const float* x, const float* y) {
        double r2 = 0;
        for (int64_t j = 0; j < d; ++j) r2 += double(x[j] - y[j]) * (x[j] - y[j]);
        double s = 0;
        for (double h : bandwidths) s += std::exp(-r2 / (2 * h * h));
        return s;
    };
    double kxx = 0, kyy = 0, kxy = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            if (i != j) kxx += k(&va[i * d], &va[j * d]);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j)
            if (i != j) kyy += k(&vb[i * d], &vb[j * d]);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) kxy += k(&va[i * d], &vb[j * d]);
    return kxx / (n * (n - 1.0)) + kyy / (m * (m - 1.0)) - 2 * kxy / (double(n) * m);
}

}  // namespace rflow
