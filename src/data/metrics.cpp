// Sliced Wasserstein, RBF MMD^2 and trajectory straightness, computed in double on the host.
// Work is split over rflow's threads in fixed pieces whose partial sums are added in a fixed order,
// so every result is the same for any thread count.
#include "rflow/metrics.hpp"

// Eigen 3.4's AVX-512 double exp trips GCC 12's -Wmaybe-uninitialized / -Wunused-variable inside
// Eigen's own headers (false positives); silence them for those headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "cpu/parallel.hpp"
#include "rflow/error.hpp"

namespace rflow {

namespace {

using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// [N, ...] -> N x D doubles; Error naming `what` on a non-finite value.
RowMat to_rows(const Tensor& t, const char* fn, const char* what) {
    const int64_t n = t.size(0), d = n > 0 ? t.numel() / n : 0;
    const std::vector<float> v = t.to(Device::cpu).to_vector();
    RowMat m(n, d);
    for (int64_t k = 0; k < n * d; ++k) {
        RFLOW_CHECK(std::isfinite(v[k]), fn << ": " << what << " has a non-finite value at row " << k / d);
        m.data()[k] = v[k];
    }
    return m;
}

std::string shape_or_undefined(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : "undefined"; }

// int_0^1 (F_a^-1(q) - F_b^-1(q))^2 dq for sorted samples: a[i] holds quantiles [i/n, (i+1)/n).
// Positions are counted in units of 1 / (n m) to stay exact.
double w2sq_sorted(const double* a, int64_t n, const double* b, int64_t m) {
    if (n == m) {
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
        return s / static_cast<double>(n);
    }
    double s = 0;
    int64_t i = 0, j = 0, pos = 0;
    while (i < n && j < m) {
        const int64_t end_a = (i + 1) * m, end_b = (j + 1) * n, end = std::min(end_a, end_b);
        s += static_cast<double>(end - pos) * (a[i] - b[j]) * (a[i] - b[j]);
        pos = end;
        if (end == end_a) ++i;
        if (end == end_b) ++j;
    }
    return s / (static_cast<double>(n) * static_cast<double>(m));
}

// Sorts finite doubles ascending: LSD radix sort on order-preserving 64-bit keys, 11-bit digits
// (6 passes, skipping digits that are equal in every key), std::sort for short arrays. About 5x
// faster than std::sort at n = 10^4, which is what sliced_wasserstein spends its time on.
void sort_values(double* x, int64_t n, std::vector<uint64_t>& ka, std::vector<uint64_t>& kb) {
    if (n < 1024) {
        std::sort(x, x + n);
        return;
    }
    constexpr int kBits = 11, kPasses = 6, kBuckets = 1 << kBits;
    constexpr uint64_t kSign = uint64_t{1} << 63;
    ka.resize(n);
    kb.resize(n);
    std::vector<uint32_t> count(static_cast<size_t>(kPasses) * kBuckets, 0);
    for (int64_t i = 0; i < n; ++i) {
        uint64_t u;
        std::memcpy(&u, &x[i], sizeof u);
        u = (u & kSign) ? ~u : (u | kSign);  // negative: flip all bits; positive: flip the sign bit
        ka[i] = u;
        for (int p = 0; p < kPasses; ++p) ++count[p * kBuckets + ((u >> (p * kBits)) & (kBuckets - 1))];
    }
    uint64_t* src = ka.data();
    uint64_t* dst = kb.data();
    for (int p = 0; p < kPasses; ++p) {
        uint32_t* c = &count[p * kBuckets];
        const int shift = p * kBits;
        if (c[(src[0] >> shift) & (kBuckets - 1)] == static_cast<uint32_t>(n)) continue;  // one digit value
        uint32_t sum = 0;
        for (int b = 0; b < kBuckets; ++b) {
            const uint32_t t = c[b];
            c[b] = sum;
            sum += t;
        }
        for (int64_t i = 0; i < n; ++i) dst[c[(src[i] >> shift) & (kBuckets - 1)]++] = src[i];
        std::swap(src, dst);
    }
    for (int64_t i = 0; i < n; ++i) {
        uint64_t u = src[i];
        u = (u & kSign) ? (u & ~kSign) : ~u;
        std::memcpy(&x[i], &u, sizeof u);
    }
}

}  // namespace

double sliced_wasserstein(const Tensor& a, const Tensor& b, Generator& gen, int projections) {
    RFLOW_CHECK(a.defined() && b.defined() && a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) &&
                    a.size(0) > 0 && b.size(0) > 0 && a.size(1) > 0,
                "sliced_wasserstein: need non-empty [N, D] and [M, D] clouds, got " << shape_or_undefined(a) << " and "
                                                                                     << shape_or_undefined(b));
    RFLOW_CHECK(projections > 0, "sliced_wasserstein: projections must be positive, got " << projections);
    const int64_t n = a.size(0), m = b.size(0), d = a.size(1);
    const RowMat ma = to_rows(a, "sliced_wasserstein", "a"), mb = to_rows(b, "sliced_wasserstein", "b");
    std::vector<float> dirs(static_cast<size_t>(projections) * d);
    gen.normal(dirs.data(), static_cast<int64_t>(dirs.size()));
    // U: D x P unit directions (a zero draw cannot happen in practice; guard the division anyway)
    Eigen::MatrixXd u(d, projections);
    for (int p = 0; p < projections; ++p) {
        double norm = 0;
        for (int64_t k = 0; k < d; ++k) norm += double(dirs[p * d + k]) * dirs[p * d + k];
        norm = std::sqrt(std::max(norm, 1e-300));
        for (int64_t k = 0; k < d; ++k) u(k, p) = dirs[p * d + k] / norm;
    }
    // projections, one column per direction (column-major: each column contiguous for sorting)
    Eigen::MatrixXd pa = ma * u, pb = mb * u;
    std::vector<double> w(projections);
    cpu::parallel_for(projections, 8, [&](int64_t begin, int64_t end) {
        std::vector<uint64_t> k1, k2;
        for (int64_t p = begin; p < end; ++p) {
            double* ca = pa.col(p).data();
            double* cb = pb.col(p).data();
            sort_values(ca, n, k1, k2);
            sort_values(cb, m, k1, k2);
            w[p] = w2sq_sorted(ca, n, cb, m);
        }
    });
    double total = 0;
    for (double x : w) total += x;
    return std::sqrt(total / projections);
}

namespace {

// Sum of k(x, y) = sum_h exp(-|x - y|^2 / (2 h^2)) over pairs, vectorised over y.
struct RbfSum {
    double c0 = 0;              // 1 / (2 h_0^2) for the widest bandwidth h_0
    std::vector<int> powers;    // ascending; exp(-r2 c_k) = e0^p when (h_0 / h_k)^2 = p is an integer
    std::vector<double> extra;  // otherwise exp(-r2 c_k) directly: the c_k

    explicit RbfSum(std::vector<double> h) {
        std::sort(h.begin(), h.end(), std::greater<double>());
        c0 = 1 / (2 * h[0] * h[0]);
        for (double hk : h) {
            const double ratio = (h[0] * h[0]) / (hk * hk);
            const double r = std::round(ratio);
            if (std::fabs(ratio - r) < 1e-12 * ratio && r <= 1024)
                powers.push_back(static_cast<int>(r));
            else
                extra.push_back(1 / (2 * hk * hk));
        }
        std::sort(powers.begin(), powers.end());
    }

    static constexpr int64_t kChunk = 256;  // columns per pass: every buffer stays in L1

    // sum over j in [j0, m) of k(x, y_j); yt is y transposed, d rows of m contiguous coordinates
    double row_sum(const double* x, const double* yt, int64_t d, int64_t m, int64_t j0) const {
        alignas(64) double r2[kChunk], e0[kChunk], cur[kChunk], tmp[kChunk], acc[kChunk];
        double total = 0;
        for (int64_t c0j = j0; c0j < m; c0j += kChunk) {
            const int64_t len = std::min(kChunk, m - c0j);
            for (int64_t j = 0; j < len; ++j) r2[j] = 0;
            for (int64_t k = 0; k < d; ++k) {
                const double* yk = yt + k * m + c0j;
                const double xk = x[k];
                for (int64_t j = 0; j < len; ++j) r2[j] += (xk - yk[j]) * (xk - yk[j]);
            }
            Eigen::Map<Eigen::ArrayXd>(e0, len) = (-c0 * Eigen::Map<const Eigen::ArrayXd>(r2, len)).exp();
            // e0^p for the ascending powers, each from the previous one when it divides (the default
            // bandwidths {0.5, 1, 2} give e0, e0^4 = (e0^2)^2, e0^16 = ((e0^4)^2)^2); summed
            // element-wise into acc, then reduced once (a vectorised sum in a fixed order)
            for (int64_t j = 0; j < len; ++j) acc[j] = 0;
            for (int64_t j = 0; j < len; ++j) cur[j] = e0[j];
            int cur_pow = 1;
            for (int p : powers) {
                if (p != cur_pow) {
                    const bool chain = p % cur_pow == 0;
                    int q = chain ? p / cur_pow : p;
                    // tmp = base^q by binary powering, base = cur (chain) or e0
                    const double* base = chain ? cur : e0;
                    for (int64_t j = 0; j < len; ++j) tmp[j] = base[j];
                    bool have = false;
                    while (true) {
                        if (q & 1) {
                            if (have)
                                for (int64_t j = 0; j < len; ++j) cur[j] *= tmp[j];
                            else
                                for (int64_t j = 0; j < len; ++j) cur[j] = tmp[j];
                            have = true;
                        }
                        q >>= 1;
                        if (!q) break;
                        for (int64_t j = 0; j < len; ++j) tmp[j] *= tmp[j];
                    }
                    cur_pow = p;
                }
                for (int64_t j = 0; j < len; ++j) acc[j] += cur[j];
            }
            for (double c : extra)
                Eigen::Map<Eigen::ArrayXd>(acc, len) += (-c * Eigen::Map<const Eigen::ArrayXd>(r2, len)).exp();
            total += Eigen::Map<const Eigen::ArrayXd>(acc, len).sum();
        }
        return total;
    }
};

// For `same` (y is x): sum over i != j of k(x_i, x_j), as twice the sum over j > i; otherwise the
// sum over all i, j. Row sums go to a per-row array and are added in order: thread-count independent.
double kernel_sum(const RowMat& x, const RowMat& y, bool same, const RbfSum& k) {
    const int64_t n = x.rows(), m = y.rows(), d = x.cols();
    const RowMat yt = y.transpose();  // d x m, each coordinate contiguous over points
    std::vector<double> rows(n, 0.0);
    // rows p and n-1-p go together so the triangular sums balance over threads
    const int64_t pairs = (n + 1) / 2;
    cpu::parallel_for(pairs, 16, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
            const int64_t q = n - 1 - p;
            rows[p] = k.row_sum(x.row(p).data(), yt.data(), d, m, same ? p + 1 : 0);
            if (q != p) rows[q] = k.row_sum(x.row(q).data(), yt.data(), d, m, same ? q + 1 : 0);
        }
    });
    double s = 0;
    for (double r : rows) s += r;
    return same ? 2 * s : s;
}

}  // namespace

double mmd_rbf(const Tensor& a, const Tensor& b, const std::vector<double>& bandwidths) {
    RFLOW_CHECK(a.defined() && b.defined() && a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) &&
                    a.size(0) > 1 && b.size(0) > 1,
                "mmd_rbf: need [N, D] and [M, D] clouds with N, M > 1, got " << shape_or_undefined(a) << " and "
                                                                             << shape_or_undefined(b));
    RFLOW_CHECK(!bandwidths.empty(), "mmd_rbf: no bandwidths");
    for (double h : bandwidths)
        RFLOW_CHECK(std::isfinite(h) && h > 0, "mmd_rbf: bandwidths must be positive and finite, got " << h);
    const RowMat ma = to_rows(a, "mmd_rbf", "a"), mb = to_rows(b, "mmd_rbf", "b");
    const double n = static_cast<double>(ma.rows()), m = static_cast<double>(mb.rows());
    const RbfSum k(bandwidths);
    const double kxx = kernel_sum(ma, ma, true, k), kyy = kernel_sum(mb, mb, true, k),
                 kxy = kernel_sum(ma, mb, false, k);
    return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (n * m);
}

double straightness(const std::vector<Tensor>& states, const std::vector<float>& times) {
    RFLOW_CHECK(states.size() >= 2 && states.size() == times.size(),
                "straightness: need at least two states and one time per state, got " << states.size()
                                                                                       << " states and " << times.size()
                                                                                       << " times");
    RFLOW_CHECK(std::fabs(times.front()) <= 1e-6f && std::fabs(times.back() - 1.f) <= 1e-6f,
                "straightness: times must run from 0 to 1, got " << times.front() << " .. " << times.back());
    for (size_t k = 0; k < states.size(); ++k) {
        RFLOW_CHECK(states[k].defined() && states[k].dim() >= 1 && states[k].size(0) > 0 &&
                        states[k].shape() == states[0].shape(),
                    "straightness: state " << k << " has shape " << shape_or_undefined(states[k]) << ", state 0 has "
                                           << shape_or_undefined(states[0]));
        if (k + 1 < times.size())
            RFLOW_CHECK(times[k + 1] > times[k], "straightness: times must increase, but times[" << k << "] = "
                                                                                               << times[k] << " and times["
                                                                                               << k + 1 << "] = " << times[k + 1]);
    }
    const RowMat z0 = to_rows(states.front(), "straightness", "state 0");
    const RowMat z1 = to_rows(states.back(), "straightness", "the last state");
    const RowMat straight = z1 - z0;
    const double n = static_cast<double>(z0.rows());
    double total = 0;
    RowMat prev = z0;
    for (size_t k = 0; k + 1 < states.size(); ++k) {
        const RowMat next = k + 2 == states.size() ? z1 : to_rows(states[k + 1], "straightness", "a state");
        const double dt = static_cast<double>(times[k + 1]) - static_cast<double>(times[k]);
        total += dt * (straight - (next - prev) / dt).rowwise().squaredNorm().sum() / n;
        prev = next;
    }
    return total;
}

}  // namespace rflow
