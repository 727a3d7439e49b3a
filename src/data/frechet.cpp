// Frechet distance between Gaussian fits of two feature sets (the FID formula), in double:
//   d^2 = ||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a^1/2 S_b S_a^1/2)^1/2).
// S_a^1/2 S_b S_a^1/2 is symmetric PSD and has the eigenvalues of S_a S_b, so its trace-sqrt is
// the sum of the square roots of its (clamped) eigenvalues.
#include <Eigen/Dense>
#include <cmath>

#include "rflow/error.hpp"
#include "rflow/metrics.hpp"

namespace rflow {

namespace {

void moments(const Tensor& x, Eigen::VectorXd& mu, Eigen::MatrixXd& cov) {
    const int64_t n = x.size(0), d = x.size(1);
    std::vector<float> v = x.to_vector();
    Eigen::MatrixXd m(n, d);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) m(i, j) = v[i * d + j];
    mu = m.colwise().mean().transpose();
    Eigen::MatrixXd c = m.rowwise() - mu.transpose();
    cov = (c.transpose() * c) / static_cast<double>(n - 1);
}

Eigen::MatrixXd sym_sqrt(const Eigen::MatrixXd& s) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(s);
    Eigen::VectorXd ev = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
    return es.eigenvectors() * ev.asDiagonal() * es.eigenvectors().transpose();
}

}  // namespace

double frechet_distance(const Tensor& a, const Tensor& b) {
    RFLOW_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) && a.size(0) > 1 && b.size(0) > 1,
                "frechet_distance: need [N, D] and [M, D] feature sets with N, M > 1, got " << shape_str(a.shape())
                                                                                           << " and " << shape_str(b.shape()));
    Eigen::VectorXd mu_a, mu_b;
    Eigen::MatrixXd s_a, s_b;
    moments(a, mu_a, s_a);
    moments(b, mu_b, s_b);
    Eigen::MatrixXd r = sym_sqrt(s_a);
    Eigen::MatrixXd m = r * s_b * r;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(0.5 * (m + m.transpose()));
    const double tr_sqrt = es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
    return (mu_a - mu_b).squaredNorm() + s_a.trace() + s_b.trace() - 2.0 * tr_sqrt;
}

}  // namespace rflow
