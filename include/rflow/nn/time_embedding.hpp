// Embeddings of the flow time t in [0, 1]: sinusoidal (Transformer/DDPM) and random Fourier.
#pragma once

#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

/// e(t) = [cos(s t w_0), ..., cos(s t w_{h-1}), sin(s t w_0), ..., sin(s t w_{h-1})],
/// w_i = max_period^(-i / h), h = dim / 2. t is [N] or [N, 1]; the result is [N, dim].
class RFLOW_API SinusoidalEmbedding : public Module {
public:
    explicit SinusoidalEmbedding(int64_t dim, float scale = 1000.f, float max_period = 10000.f);
    Tensor forward(const Tensor& t) override;
    int64_t dim() const { return dim_; }

private:
    int64_t dim_;
    float scale_;
    Tensor freqs_;  // buffer [h]
};

/// Gaussian random Fourier features: e(t) = [sin(2 pi t b), cos(2 pi t b)], b ~ N(0, sigma^2)
/// fixed at construction (a buffer, saved with the model).
class RFLOW_API FourierEmbedding : public Module {
public:
    FourierEmbedding(int64_t dim, Generator& gen, float sigma = 16.f);
    Tensor forward(const Tensor& t) override;
    int64_t dim() const { return dim_; }

private:
    int64_t dim_;
    Tensor b_;  // buffer [dim / 2]
};

}  // namespace rflow::nn
