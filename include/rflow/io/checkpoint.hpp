// Checkpoints and weight files as safetensors: model, optimizer state, RNG state, step, config.
//
// Layout: tensors "model.<name>" and "optim.<name>" (F32); metadata "format" =
// "rflow-checkpoint-1", "step", "rng" = "seed stream offset", "config" (JSON text), plus any
// extra metadata. Written atomically, so an interrupted save never tears the previous file.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/io/safetensors.hpp"
#include "rflow/tensor.hpp"

namespace rflow::io {

using TensorList = std::vector<std::pair<std::string, Tensor>>;

struct Checkpoint {
    TensorList model;
    TensorList optimizer;
    std::array<uint64_t, 3> rng{0, 0, 0};
    int64_t step = 0;
    std::string config;  ///< JSON text describing how to rebuild the model and trainer
    std::vector<std::pair<std::string, std::string>> metadata;
};

/// The entries whose name starts with `prefix`, with the prefix removed (e.g. "generator." of a
/// checkpoint that holds two networks).
RFLOW_API TensorList strip_prefix(const TensorList& in, const std::string& prefix);
/// Every entry with `prefix` put in front of its name, appended to `out`.
RFLOW_API void append_prefixed(TensorList& out, const std::string& prefix, const TensorList& in);

RFLOW_API void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
/// Errors name the path and what is missing or malformed.
RFLOW_API Checkpoint load_checkpoint(const std::string& path);

/// Plain weight files (no optimizer state), e.g. for sharing a trained model; stored as F32, F16
/// or BF16 (rounded to nearest even), and read back as float32 whatever they were stored as.
RFLOW_API void save_weights(const std::string& path, const TensorList& tensors,
                            const std::vector<std::pair<std::string, std::string>>& metadata = {},
                            DType dtype = DType::F32);
RFLOW_API TensorList load_weights(const std::string& path);

}  // namespace rflow::io
