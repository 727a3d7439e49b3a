// Embedding: a lookup table of learned vectors, row i for index i (e.g. class labels).
#pragma once

#include <vector>

#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

class RFLOW_API Embedding : public Module {
public:
    /// weight [num, dim] ~ N(0, 1), as PyTorch's default.
    Embedding(int64_t num, int64_t dim, Generator& gen);
    /// [indices.size(), dim]; an index outside [0, num) is an Error naming it.
    Tensor forward(const std::vector<int64_t>& indices);
    Tensor& weight() { return weight_; }
    int64_t num() const { return num_; }
    int64_t dim() const { return dim_; }

private:
    int64_t num_, dim_;
    Tensor weight_;
};

}  // namespace rflow::nn
