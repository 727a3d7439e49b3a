// Generation from a trained flow: noise drawn from a seed, integrated by an ODE sampler from t = 0
// to t = 1, optionally class- or prompt-conditioned with classifier-free guidance. The one
// implementation behind `rflow sample`, `rflow eval` and the C API (rflow/rflow_c.h): a seed gives
// the same samples through each, on the CPU or a GPU (the noise is drawn on the host).
//
// Layering: above samplers/ and trainers/ (guidance), beside the model registry (rflow/models.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/nn/velocity_model.hpp"
#include "rflow/samplers/sampler.hpp"

namespace rflow {

struct GenerateOptions {
    std::string method = "euler";       ///< a sampler name (samplers::sampler_names())
    samplers::SamplerOptions sampler;   ///< steps, tolerances, ...
    std::vector<int64_t> labels;        ///< class-conditional models: one label per sample (empty: unconditional)
    float cfg_scale = 1.f;              ///< guidance w in v_u + w (v_c - v_u), for labels and prompts
    std::string prompt;                 ///< text-conditioned models (nn::TextDiT): the prompt
    bool record_trajectory = false;
};

struct Generated {
    Tensor x;                        ///< [n, sample_shape...] on the CPU
    int64_t nfe = 0;                 ///< velocity evaluations
    std::vector<Tensor> trajectory;  ///< states on the CPU, when recorded
    bool budget_exhausted = false;   ///< an adaptive sampler stopped at its step budget before t = 1
};

/// n samples of `sample_shape` from `model` (eval mode for the call; its mode is restored), noise
/// x0 ~ N(0, I) from Generator(seed, stream 2). rflow::Error on an unknown method, labels that do
/// not match n, or a prompt for a model that takes none.
RFLOW_API Generated generate(nn::VelocityModel& model, const Shape& sample_shape, int64_t n, uint64_t seed,
                             const GenerateOptions& options = {});

}  // namespace rflow
