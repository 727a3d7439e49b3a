// CPU gather/scatter along one axis: index_select and its adjoint index_add.
// The tensor is viewed as [outer, size(dim), inner]; each index moves one inner block.
#include <algorithm>

#include "../backend.hpp"
#include "../common/axis_split.hpp"
#include "../core/tensor_impl.hpp"
#include "rflow/error.hpp"

namespace rflow::cpu {

void index_select(const Tensor& x_in, int64_t dim, const std::vector<int64_t>& index, Tensor& out) {
    Tensor x = x_in.contiguous();
    int64_t outer, inner;
    detail::split_at_axis(x.shape(), dim, outer, inner);
    const int64_t n = x.size(dim), k = static_cast<int64_t>(index.size());
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < k; ++j) {
            const float* src = x.data() + (o * n + index[j]) * inner;
            std::copy(src, src + inner, out.data() + (o * k + j) * inner);
        }
}

void index_add(Tensor& out, int64_t dim, const std::vector<int64_t>& index, const Tensor& src_in) {
    Tensor src = src_in.contiguous();
    int64_t outer, inner;
    detail::split_at_axis(out.shape(), dim, outer, inner);
    const int64_t n = out.size(dim), k = static_cast<int64_t>(index.size());
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < k; ++j) {
            const float* s = src.data() + (o * k + j) * inner;
            float* d = out.data() + (o * n + index[j]) * inner;
            for (int64_t i = 0; i < inner; ++i) d[i] += s[i];
        }
}

}  // namespace rflow::cpu
