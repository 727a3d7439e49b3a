// Thin SVD through Eigen's divide-and-conquer SVD in double precision.
#include "rflow/linalg.hpp"

#include <Eigen/SVD>

#include "rflow/error.hpp"

namespace rflow {

Svd svd(const Tensor& a) {
    RFLOW_CHECK(a.dim() == 2 && a.numel() > 0, "svd: expects a non-empty matrix, got " << shape_str(a.shape()));
    const int64_t m = a.size(0), n = a.size(1), k = std::min(m, n);
    const std::vector<float> v = a.contiguous().to_vector();
    Eigen::MatrixXd x(m, n);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) x(i, j) = v[i * n + j];
    Eigen::BDCSVD<Eigen::MatrixXd> dec(x, Eigen::ComputeThinU | Eigen::ComputeThinV);
    auto to_tensor = [](const Eigen::MatrixXd& mat) {
        std::vector<float> out(static_cast<size_t>(mat.rows() * mat.cols()));
        for (Eigen::Index i = 0; i < mat.rows(); ++i)
            for (Eigen::Index j = 0; j < mat.cols(); ++j) out[i * mat.cols() + j] = static_cast<float>(mat(i, j));
        return Tensor::from_vector(out, {mat.rows(), mat.cols()});
    };
    Svd r;
    r.U = to_tensor(dec.matrixU());
    r.V = to_tensor(dec.matrixV());
    r.S = to_tensor(dec.singularValues()).reshape({k});
    return r;
}

}  // namespace rflow
