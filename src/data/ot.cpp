// Exact linear assignment (dense, square) and the optimal-transport helpers built on it.
//
// Solver: the Jonker-Volgenant scheme (R. Jonker, A. Volgenant, Computing 38, 1987) with the
// shortest augmenting path phase written as in scipy's linear_sum_assignment (D. F. Crouse,
// "On implementing 2D rectangular assignment algorithms", IEEE TAES 2016):
//   1. column reduction: v_j = min_i C_ij, each column goes to its arg-min row if that row is free;
//   2. reduction transfer for rows holding exactly one column;
//   3. two passes of augmenting row reduction (cheap re-assignments along alternating paths);
//   4. for every still-free row, Dijkstra on reduced costs C_ij - u_i - v_j >= 0 to the nearest free
//      column, then dual update and augmentation along the path.
// Invariants after each step: C_ij - u_i - v_j >= 0 for every assigned row i and every column j,
// with equality on assigned pairs (dual feasibility + complementary slackness), so the final
// assignment is optimal. Step 4 scans whole rows with masks (a scanned column has v = -inf in the
// working copy and distance +inf in the frontier), so the inner loops are branch-free and vectorise.
#include "rflow/ot.hpp"

// Eigen 3.4's AVX-512 double kernels trip GCC 12's -Wmaybe-uninitialized / -Wunused-variable
// inside Eigen's own headers (false positives); silence them for those headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <algorithm>
#include <cmath>
#include <limits>

#include "rflow/error.hpp"

namespace rflow {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kBlock = 64;  // columns per block of the Dijkstra minimum search
constexpr int64_t kOnTheFlyMaxDim = 8;  // up to this D, point-cloud costs are computed per row

class Solver {
public:
    /// Costs from a dense row-major n x n matrix.
    Solver(const double* c, int64_t n)
        : c_(c), n_(n), u_(n, 0.0), v_(n, 0.0), col4row_(n, -1), row4col_(n, -1) {}
    /// Costs |a_i - b_j|^2 computed row by row when needed: a is n x d row-major, bt is d x n
    /// (b transposed). For small d this reads O(n d) cached values per row instead of streaming an
    /// n x n matrix from memory, which is what bounds the matrix version for n >~ 1500.
    Solver(const double* a, const double* bt, int64_t d, int64_t n)
        : c_(nullptr), a_(a), bt_(bt), d_(d), n_(n), u_(n, 0.0), v_(n, 0.0), col4row_(n, -1), row4col_(n, -1),
          rowbuf_(n) {}

    std::vector<int64_t> run() {
        std::vector<int64_t> free_rows = initialise();
        dw_.resize(n_);
        vw_.resize(n_);
        dfinal_.resize(n_);
        path_.resize(n_);
        bmin_.resize((n_ + kBlock - 1) / kBlock);
        for (int64_t r : free_rows) augment(r);
        return col4row_;
    }

private:
    // Row i of the cost matrix; with computed costs the pointer is valid until the next call.
    const double* row(int64_t i) {
        if (c_) return c_ + i * n_;
        double* out = rowbuf_.data();
        const double* ai = a_ + i * d_;
        if (d_ == 0) std::fill(out, out + n_, 0.0);
        for (int64_t k = 0; k < d_; ++k) {
            const double* bk = bt_ + k * n_;
            const double x = ai[k];
            if (k == 0)
                for (int64_t j = 0; j < n_; ++j) out[j] = (x - bk[j]) * (x - bk[j]);
            else
                for (int64_t j = 0; j < n_; ++j) out[j] += (x - bk[j]) * (x - bk[j]);
        }
        return out;
    }
    double cost(int64_t i, int64_t j) const {
        if (c_) return c_[i * n_ + j];
        double s = 0;
        for (int64_t k = 0; k < d_; ++k) s += (a_[i * d_ + k] - bt_[k * n_ + j]) * (a_[i * d_ + k] - bt_[k * n_ + j]);
        return s;
    }

    // Steps 1-3; returns the rows left free.
    std::vector<int64_t> initialise() {
        const int64_t n = n_;
        // 1. column reduction, row by row for cache locality; ties go to the lowest row
        std::vector<int64_t> argmin(n, 0);
        const double* c0 = row(0);
        std::copy(c0, c0 + n, v_.begin());
        for (int64_t i = 1; i < n; ++i) {
            const double* ci = row(i);
            for (int64_t j = 0; j < n; ++j) {
                if (ci[j] < v_[j]) {
                    v_[j] = ci[j];
                    argmin[j] = i;
                }
            }
        }
        std::vector<int> matches(n, 0);
        for (int64_t j = n - 1; j >= 0; --j) {
            const int64_t i = argmin[j];
            if (matches[i]++ == 0) {
                col4row_[i] = j;
                row4col_[j] = i;
            }
        }
        // 2. reduction transfer: a row holding one column gives that column the slack to its
        // second-best column
        std::vector<int64_t> free_rows;
        for (int64_t i = 0; i < n; ++i) {
            if (matches[i] == 0) {
                free_rows.push_back(i);
            } else if (matches[i] == 1) {
                const int64_t j1 = col4row_[i];
                const double* ci = row(i);
                double m = kInf;
                for (int64_t j = 0; j < n; ++j)
                    if (j != j1) m = std::min(m, ci[j] - v_[j]);
                if (m < kInf) v_[j1] -= m - (ci[j1] - v_[j1]);
            }
        }
        // 3. augmenting row reduction, two passes
        for (int pass = 0; pass < 2 && !free_rows.empty(); ++pass) {
            std::vector<int64_t> next;
            size_t k = 0;
            int64_t budget = 4 * n;  // bounds the chains of re-assignments (floating-point ties)
            while (k < free_rows.size()) {
                const int64_t i = free_rows[k++];
                const double* ci = row(i);
                double umin = ci[0] - v_[0], usub = kInf;
                int64_t j1 = 0, j2 = -1;
                for (int64_t j = 1; j < n; ++j) {
                    const double h = ci[j] - v_[j];
                    if (h < usub) {
                        if (h >= umin) {
                            usub = h;
                            j2 = j;
                        } else {
                            usub = umin;
                            umin = h;
                            j2 = j1;
                            j1 = j;
                        }
                    }
                }
                int64_t i0 = row4col_[j1];
                const bool strict = umin < usub;
                if (strict) {
                    v_[j1] -= usub - umin;
                } else if (i0 >= 0 && j2 >= 0) {
                    j1 = j2;
                    i0 = row4col_[j2];
                }
                if (i0 >= 0) col4row_[i0] = -1;
                col4row_[i] = j1;
                row4col_[j1] = i;
                if (i0 >= 0) {
                    if (strict && --budget > 0)
                        free_rows[--k] = i0;  // continue the alternating path from i0
                    else
                        next.push_back(i0);
                }
            }
            free_rows.swap(next);
        }
        // duals of assigned rows: complementary slackness on their pairs
        for (int64_t i = 0; i < n; ++i)
            if (col4row_[i] >= 0) u_[i] = cost(i, col4row_[i]) - v_[col4row_[i]];
        return free_rows;
    }

    // Step 4 for free row `cur`.
    void augment(int64_t cur) {
        const int64_t n = n_;
        double* dw = dw_.data();
        double* vw = vw_.data();
        int64_t* path = path_.data();
        std::fill(dw, dw + n, kInf);
        std::copy(v_.begin(), v_.end(), vw);
        visited_.clear();
        scanned_.clear();
        int64_t i = cur, sink = -1;
        double min_val = 0;
        const int64_t nblocks = (n + kBlock - 1) / kBlock;
        double* bmin = bmin_.data();
        while (sink < 0) {
            visited_.push_back(i);
            const double* ci = row(i);
            const double h = min_val - u_[i];
            // relax every column from row i (scanned ones have vw = -inf, so r = +inf never wins)
            // and keep the minimum of each block of kBlock columns
            for (int64_t b = 0; b < nblocks; ++b) {
                const int64_t lo = b * kBlock, hi = std::min(lo + kBlock, n);
                double m = kInf;
#if defined(_OPENMP)
#pragma omp simd reduction(min : m)
#endif
                for (int64_t j = lo; j < hi; ++j) {
                    const double r = ci[j] + h - vw[j];
                    const bool better = r < dw[j];
                    dw[j] = better ? r : dw[j];
                    path[j] = better ? i : path[j];
                    m = dw[j] < m ? dw[j] : m;
                }
                bmin[b] = m;
            }
            double lowest = kInf;
            for (int64_t b = 0; b < nblocks; ++b) lowest = bmin[b] < lowest ? bmin[b] : lowest;
            RFLOW_CHECK(lowest < kInf, "linear_sum_assignment: no augmenting path (internal error)");
            // the first column at the minimum, preferring a free one (it ends the path; ties are
            // common with integer costs)
            int64_t jbest = -1;
            for (int64_t b = 0; b < nblocks && (jbest < 0 || row4col_[jbest] >= 0); ++b) {
                if (bmin[b] != lowest) continue;
                const int64_t lo = b * kBlock, hi = std::min(lo + kBlock, n);
                for (int64_t j = lo; j < hi; ++j) {
                    if (dw[j] != lowest) continue;
                    if (row4col_[j] < 0) {
                        jbest = j;
                        break;
                    }
                    if (jbest < 0) jbest = j;
                }
            }
            min_val = lowest;
            dfinal_[jbest] = lowest;
            dw[jbest] = kInf;
            vw[jbest] = -kInf;
            scanned_.push_back(jbest);
            if (row4col_[jbest] < 0)
                sink = jbest;
            else
                i = row4col_[jbest];
        }
        // dual update (keeps feasibility and slackness; see Crouse 2016)
        u_[cur] += min_val;
        for (int64_t r : visited_)
            if (r != cur) u_[r] += min_val - dfinal_[col4row_[r]];
        for (int64_t j : scanned_) v_[j] -= min_val - dfinal_[j];
        // flip the alternating path
        int64_t j = sink;
        while (true) {
            const int64_t r = path[j];
            row4col_[j] = r;
            std::swap(col4row_[r], j);
            if (r == cur) break;
        }
    }

    const double* c_;
    const double* a_ = nullptr;
    const double* bt_ = nullptr;
    int64_t d_ = 0;
    int64_t n_;
    std::vector<double> u_, v_, dw_, vw_, dfinal_, bmin_;
    std::vector<int64_t> col4row_, row4col_, path_, visited_, scanned_;
    std::vector<double> rowbuf_;
};

// [N, ...] -> N x D row-major doubles, with the checks shared by exact_w2 and ot_pairing.
Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows_of(const Tensor& t, const char* fn,
                                                                               const char* name) {
    const int64_t n = t.size(0), d = t.numel() / std::max<int64_t>(n, 1);
    const std::vector<float> v = t.to(Device::cpu).to_vector();
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(n, d);
    for (int64_t k = 0; k < n * d; ++k) {
        RFLOW_CHECK(std::isfinite(v[k]), fn << ": " << name << " has a non-finite value at row " << k / d);
        m.data()[k] = v[k];
    }
    return m;
}

// Squared distances |a_i - b_j|^2 (n x n, row-major) and the optimal assignment.
std::vector<int64_t> assign_sq(const Tensor& a, const Tensor& b, const char* fn, const char* an, const char* bn,
                               Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>* ma_out,
                               Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>* mb_out) {
    RFLOW_CHECK(a.defined() && b.defined() && a.dim() >= 1 && a.shape() == b.shape() && a.size(0) > 0,
                fn << ": need two non-empty [N, D] clouds of one shape, got "
                   << (a.defined() ? shape_str(a.shape()) : "undefined") << " and "
                   << (b.defined() ? shape_str(b.shape()) : "undefined"));
    const int64_t n = a.size(0);
    RFLOW_CHECK(n <= kMaxExactOtPoints,
                fn << ": " << n << " points is more than " << kMaxExactOtPoints
                   << ": exact OT needs an N x N cost matrix (" << n * n * 8 / (1 << 20)
                   << " MiB) and O(N^3) time; use sliced_wasserstein or subsample");
    auto ma = rows_of(a, fn, an), mb = rows_of(b, fn, bn);
    std::vector<int64_t> sigma;
    if (ma.cols() <= kOnTheFlyMaxDim) {
        const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> bt = mb.transpose();
        sigma = Solver(ma.data(), bt.data(), ma.cols(), n).run();
    } else {
        // |a|^2 + |b|^2 - 2 a.b through a GEMM; rounding can only perturb the choice among
        // near-ties, and exact_w2 re-measures the chosen pairs from the coordinates
            Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> cost = -2.0 * ma * mb.transpose();
        const Eigen::VectorXd na = ma.rowwise().squaredNorm(), nb = mb.rowwise().squaredNorm();
        cost.colwise() += na;
        cost.rowwise() += nb.transpose();
        cost = cost.cwiseMax(0.0);
        sigma = Solver(cost.data(), n).run();
    }
    if (ma_out) *ma_out = std::move(ma);
    if (mb_out) *mb_out = std::move(mb);
    return sigma;
}

}  // namespace

std::vector<int64_t> linear_sum_assignment(const double* cost, int64_t n) {
    RFLOW_CHECK(n >= 0, "linear_sum_assignment: negative size " << n);
    if (n == 0) return {};
    RFLOW_CHECK(cost != nullptr, "linear_sum_assignment: null cost matrix for n = " << n);
    for (int64_t k = 0; k < n * n; ++k)
        RFLOW_CHECK(std::isfinite(cost[k]), "linear_sum_assignment: cost[" << k / n << ", " << k % n
                                                                           << "] is not finite (" << cost[k] << ")");
    return Solver(cost, n).run();
}

std::vector<int64_t> linear_sum_assignment(const std::vector<double>& cost, int64_t n) {
    RFLOW_CHECK(n >= 0 && static_cast<int64_t>(cost.size()) == n * n,
                "linear_sum_assignment: " << cost.size() << " costs for an " << n << " x " << n << " matrix");
    return linear_sum_assignment(cost.data(), n);
}

std::vector<int64_t> linear_sum_assignment(const Tensor& cost) {
    RFLOW_CHECK(cost.defined() && cost.dim() == 2 && cost.size(0) == cost.size(1),
                "linear_sum_assignment: need a square [n, n] cost tensor, got "
                    << (cost.defined() ? shape_str(cost.shape()) : "undefined"));
    const std::vector<float> f = cost.to(Device::cpu).to_vector();
    return linear_sum_assignment(std::vector<double>(f.begin(), f.end()), cost.size(0));
}

double exact_w2(const Tensor& a, const Tensor& b) {
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> ma, mb;
    const std::vector<int64_t> sigma = assign_sq(a, b, "exact_w2", "a", "b", &ma, &mb);
    // the value from the coordinates themselves (exact 0 for a cloud against itself)
    const int64_t n = ma.rows();
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += (ma.row(i) - mb.row(sigma[i])).squaredNorm();
    return std::sqrt(total / static_cast<double>(n));
}

std::vector<int64_t> ot_pairing(const Tensor& x0, const Tensor& x1) {
    return assign_sq(x0, x1, "ot_pairing", "x0", "x1", nullptr, nullptr);
}

}  // namespace rflow
