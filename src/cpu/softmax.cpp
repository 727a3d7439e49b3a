// CPU softmax / log-softmax over the last axis, max-shifted for stability:
//   softmax(x)_i = e^{x_i - m} / sum_j e^{x_j - m},  log_softmax(x)_i = x_i - m - log sum_j e^{x_j - m}.
#include <Eigen/Core>
#include <cmath>

#include "../backend.hpp"
#include "../core/tensor_impl.hpp"

namespace rflow::cpu {

using Arr = Eigen::Array<float, Eigen::Dynamic, 1>;

void softmax(const Tensor& x_in, Tensor& out, bool log) {
    Tensor x = x_in.contiguous();
    const int64_t n = x.dim() ? x.size(-1) : 1;
    const int64_t rows = n ? x.numel() / n : 0;
    for (int64_t r = 0; r < rows; ++r) {
        Eigen::Map<const Arr> xr(x.data() + r * n, n);
        Eigen::Map<Arr> yr(out.data() + r * n, n);
        const float m = xr.maxCoeff();
        if (log) {
            const float lse = std::log((xr - m).exp().sum());
            yr = (xr - m) - lse;
        } else {
            yr = (xr - m).exp();
            yr /= yr.sum();
        }
    }
}

}  // namespace rflow::cpu
