// MLP: Linear -> activation -> ... -> Linear, the velocity network of toy flow models.
#pragma once

#include <string>
#include <vector>

#include "rflow/nn/sequential.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

class RFLOW_API MLP : public Module {
public:
    /// in -> hidden[0] -> ... -> hidden[k-1] -> out, with `activation` after each hidden layer.
    MLP(int64_t in, const std::vector<int64_t>& hidden, int64_t out, Generator& gen,
        const std::string& activation = "silu");
    Tensor forward(const Tensor& x) override;

private:
    std::shared_ptr<Sequential> net_;
};

}  // namespace rflow::nn
