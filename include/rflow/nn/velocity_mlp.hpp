// VelocityMLP: v_theta(x, t) for vector data, an MLP over [x, embed(t)].
#pragma once

#include <memory>
#include <string>

#include "rflow/nn/mlp.hpp"
#include "rflow/nn/module.hpp"
#include "rflow/nn/velocity_model.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

struct VelocityMLPConfig {
    int64_t data_dim = 2;
    int64_t hidden = 256;
    int64_t depth = 3;                ///< number of hidden layers
    std::string activation = "silu";
    std::string time_embedding = "none";  ///< "none" (t as one input), "sinusoidal", "fourier"
    int64_t embedding_dim = 32;
};

/// v(x, t) = MLP([x, e(t)]) with x [N, D], t [N]; returns [N, D]. Time runs noise (t = 0) to
/// data (t = 1).
class RFLOW_API VelocityMLP : public VelocityModel {
public:
    VelocityMLP(const VelocityMLPConfig& cfg, Generator& gen);
    Tensor forward(const Tensor& x, const Tensor& t) override;
    const VelocityMLPConfig& config() const { return cfg_; }

private:
    VelocityMLPConfig cfg_;
    std::shared_ptr<Module> embed_;
    std::shared_ptr<MLP> mlp_;
};

}  // namespace rflow::nn
