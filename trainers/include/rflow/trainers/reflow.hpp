// Reflow pairs: (z0, z1 = ODE_v(z0)) generated with a chosen sampler from a trained flow, and
// stored as safetensors (tensors "z0", "z1"; metadata says how they were made). Training the next
// flow on them (FlowMatchingTrainer with stored_pairs) straightens its paths (k-RF); training with
// grid times distils it into a k-step model.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/samplers/sampler.hpp"
#include "rflow/tensor.hpp"

namespace rflow::trainers {

struct Pairs {
    Tensor z0, z1;
    std::vector<std::pair<std::string, std::string>> metadata;
};

struct PairGenerationOptions {
    std::string sampler = "rk4";
    samplers::SamplerOptions sampler_options;
    int64_t chunk = 10000;  ///< samples integrated per call (bounds memory)
    /// Where the sampler integrates (the velocity field's device). z0 is drawn on the host, so the
    /// pairs are the same on every device; they come back on the CPU.
    Device device = Device::cpu;
    /// Called after each chunk with (done, total); return false to cancel (Error).
    std::function<bool(int64_t, int64_t)> progress;
    /// Called after each chunk with every pair so far and the generator's state after drawing
    /// them: what a later call needs (as `start`, with the state restored) to carry on.
    std::function<void(const Pairs& so_far, const std::array<uint64_t, 3>& gen_state)> on_chunk;
};

/// n pairs: z0 ~ N(0, I) of shape [n, sample_shape...] drawn from `gen`, z1 = the sampler's
/// solution of dx/dt = v(x, t) from t = 0 to 1. Runs without recording autograd history.
/// With `start` (the pairs of an interrupted call's completed chunks, a multiple of options.chunk,
/// and `gen` in the state on_chunk reported for them), generation carries on after them; the
/// result equals an uninterrupted call's.
RFLOW_API Pairs generate_pairs(const samplers::VelocityField& v, const Shape& sample_shape, int64_t n,
                               Generator& gen, const PairGenerationOptions& options = {}, const Pairs& start = {});

RFLOW_API void save_pairs(const std::string& path, const Pairs& pairs);
/// Errors name the file and the missing tensor or mismatched shapes; with a sample_shape, also
/// pairs whose samples have another shape (e.g. the wrong dimension for the model).
RFLOW_API Pairs load_pairs(const std::string& path, const Shape& sample_shape = {});

/// A fingerprint (16 hex digits, FNV-1a over names, shapes and values) of a model's weights: pairs
/// record their teacher's, so that pairs of another teacher are never mistaken for its own.
RFLOW_API std::string weights_fingerprint(const std::vector<std::pair<std::string, Tensor>>& weights);

}  // namespace rflow::trainers
