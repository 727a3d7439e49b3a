// CPU reductions (sum, max, min) over any set of axes.
//
// Fast paths: reduced axes trailing in a contiguous tensor (one reduction per row) and reduced
// axes leading (rows accumulated into the output, e.g. a bias gradient). Anything else is
// permuted so the reduced axes trail, copied contiguous, and reduced per row.
#include <Eigen/Core>
#include <limits>

#include "../backend.hpp"
#include "../core/tensor_impl.hpp"
#include "rflow/error.hpp"

namespace rflow::cpu {

using backend::Reduce;
using Arr = Eigen::Array<float, Eigen::Dynamic, 1>;

namespace {

float reduce_row(Reduce op, const float* p, int64_t n) {
    Eigen::Map<const Arr> r(p, n);
    switch (op) {
        case Reduce::sum: return n ? r.sum() : 0.f;
        case Reduce::max: return n ? r.maxCoeff<Eigen::PropagateNaN>() : -std::numeric_limits<float>::infinity();
        case Reduce::min: return n ? r.minCoeff<Eigen::PropagateNaN>() : std::numeric_limits<float>::infinity();
    }
    return 0.f;
}

}  // namespace

void reduce(Reduce op, const Tensor& x, const std::vector<bool>& axes, Tensor& out) {
    const int64_t rank = x.dim();
    int64_t kept = 1, reduced = 1;
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < rank; ++d)
        if (!axes[d]) { perm.push_back(d); kept *= x.size(d); }
    int64_t first_reduced = static_cast<int64_t>(perm.size());
    for (int64_t d = 0; d < rank; ++d)
        if (axes[d]) { perm.push_back(d); reduced *= x.size(d); }
    float* o = out.data();

    // leading reduced axes of a contiguous tensor: accumulate whole rows
    bool leading = x.is_contiguous();
    for (int64_t d = 0; d < rank && leading; ++d)
        if (axes[d] && d >= rank - first_reduced) leading = false;
    for (int64_t d = 0; d < rank - first_reduced && leading; ++d)
        if (!axes[d]) leading = false;
    if (leading && reduced > 1 && kept > 1) {
        Eigen::Map<Arr> acc(o, kept);
        acc = Eigen::Map<const Arr>(x.data(), kept);
        for (int64_t r = 1; r < reduced; ++r) {
            Eigen::Map<const Arr> row(x.data() + r * kept, kept);
            if (op == Reduce::sum) acc += row;
            else if (op == Reduce::max) acc = acc.binaryExpr(row, Eigen::internal::scalar_max_op<float, float, Eigen::PropagateNaN>());
            else acc = acc.binaryExpr(row, Eigen::internal::scalar_min_op<float, float, Eigen::PropagateNaN>());
        }
        return;
    }
    Tensor xp = x.detach().permute(perm).contiguous();
    const float* p = xp.data();
    for (int64_t k = 0; k < kept; ++k) o[k] = reduce_row(op, p + k * reduced, reduced);
}

}  // namespace rflow::cpu
