// VelocityMLP: concatenates x with the (embedded) time and runs an MLP.
#include "rflow/nn/velocity_mlp.hpp"

#include "rflow/error.hpp"
#include "rflow/nn/time_embedding.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

VelocityMLP::VelocityMLP(const VelocityMLPConfig& cfg, Generator& gen) : cfg_(cfg) {
    RFLOW_CHECK(cfg.data_dim > 0 && cfg.hidden > 0 && cfg.depth >= 1,
                "VelocityMLP needs data_dim, hidden > 0 and depth >= 1");
    int64_t t_dim = 1;
    if (cfg.time_embedding == "sinusoidal") {
        embed_ = register_module("time_embed", std::make_shared<SinusoidalEmbedding>(cfg.embedding_dim));
        t_dim = cfg.embedding_dim;
    } else if (cfg.time_embedding == "fourier") {
        embed_ = register_module("time_embed", std::make_shared<FourierEmbedding>(cfg.embedding_dim, gen));
        t_dim = cfg.embedding_dim;
    } else {
        RFLOW_CHECK(cfg.time_embedding == "none", "unknown time embedding '" << cfg.time_embedding
                                                                            << "' (none, sinusoidal, fourier)");
    }
    mlp_ = register_module("mlp", std::make_shared<MLP>(cfg.data_dim + t_dim, std::vector<int64_t>(cfg.depth, cfg.hidden),
                                                        cfg.data_dim, gen, cfg.activation));
}

Tensor VelocityMLP::forward(const Tensor& x, const Tensor& t) {
    RFLOW_CHECK(x.dim() == 2 && x.size(1) == cfg_.data_dim,
                "VelocityMLP expects x [N, " << cfg_.data_dim << "], got " << shape_str(x.shape()));
    RFLOW_CHECK(t.numel() == x.size(0), "VelocityMLP expects one time per sample, got t " << shape_str(t.shape()));
    Tensor tc = t.reshape({x.size(0), 1});
    Tensor feat = embed_ ? embed_->forward(tc) : tc;
    return mlp_->forward(concat({x, feat}, 1));
}

}  // namespace rflow::nn
