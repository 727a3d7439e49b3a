// CPU layer normalisation over the last axis (no affine part):
//   y = (x - mean) / sqrt(var + eps),  var = mean((x - mean)^2)  (two passes, biased variance).
#include <Eigen/Core>
#include <cmath>

#include "../backend.hpp"
#include "../core/tensor_impl.hpp"

namespace rflow::cpu {

using Arr = Eigen::Array<float, Eigen::Dynamic, 1>;

void layer_norm(const Tensor& x_in, Tensor& out, float eps) {
    Tensor x = x_in.contiguous();
    const int64_t n = x.size(-1);
    const int64_t rows = n ? x.numel() / n : 0;
    for (int64_t r = 0; r < rows; ++r) {
        Eigen::Map<const Arr> xr(x.data() + r * n, n);
        Eigen::Map<Arr> yr(out.data() + r * n, n);
        const float mean = xr.mean();
        yr = xr - mean;
        const float var = yr.square().mean();
        yr *= 1.f / std::sqrt(var + eps);
    }
}

}  // namespace rflow::cpu
