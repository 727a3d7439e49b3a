// Embedding lookup (a differentiable index_select of the weight rows).
#include "rflow/nn/embedding.hpp"

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

Embedding::Embedding(int64_t num, int64_t dim, Generator& gen) : num_(num), dim_(dim) {
    RFLOW_CHECK(num > 0 && dim > 0, "Embedding needs num > 0 and dim > 0, got " << num << ", " << dim);
    weight_ = register_parameter("weight", Tensor::normal({num, dim}, gen));
}

Tensor Embedding::forward(const std::vector<int64_t>& indices) {
    for (int64_t i : indices) RFLOW_CHECK(i >= 0 && i < num_, "Embedding: index " << i << " outside [0, " << num_ << ")");
    return index_select(weight_, 0, indices);
}

}  // namespace rflow::nn
