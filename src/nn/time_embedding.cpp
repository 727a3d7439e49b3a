// Sinusoidal and random-Fourier time embeddings.
#include "rflow/nn/time_embedding.hpp"

#include <cmath>

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

static Tensor as_column(const Tensor& t) {
    RFLOW_CHECK(t.dim() == 1 || (t.dim() == 2 && t.size(1) == 1),
                "time embedding expects t of shape [N] or [N, 1], got " << shape_str(t.shape()));
    return t.dim() == 1 ? t.unsqueeze(1) : t;
}

SinusoidalEmbedding::SinusoidalEmbedding(int64_t dim, float scale, float max_period) : dim_(dim), scale_(scale) {
    RFLOW_CHECK(dim >= 2 && dim % 2 == 0, "SinusoidalEmbedding needs an even dim >= 2, got " << dim);
    const int64_t h = dim / 2;
    std::vector<float> f(h);
    for (int64_t i = 0; i < h; ++i) f[i] = std::exp(-std::log(max_period) * static_cast<float>(i) / static_cast<float>(h));
    freqs_ = register_buffer("freqs", Tensor::from_vector(f, {h}));
}

Tensor SinusoidalEmbedding::forward(const Tensor& t) {
    Tensor arg = mul(mul(as_column(t), scale_), freqs_);  // [N, h]
    return concat({cos(arg), sin(arg)}, 1);
}

FourierEmbedding::FourierEmbedding(int64_t dim, Generator& gen, float sigma) : dim_(dim) {
    RFLOW_CHECK(dim >= 2 && dim % 2 == 0, "FourierEmbedding needs an even dim >= 2, got " << dim);
    b_ = register_buffer("b", Tensor::normal({dim / 2}, gen, 0.f, sigma));
}

Tensor FourierEmbedding::forward(const Tensor& t) {
    Tensor arg = mul(mul(as_column(t), 6.283185307179586f), b_);  // 2 pi t b, [N, dim/2]
    return concat({sin(arg), cos(arg)}, 1);
}

}  // namespace rflow::nn
