// The model registry: every network rflow trains, described by a JSON config and rebuilt from it.
//
// A checkpoint written by `rflow train|reflow|distill|train-images` (or by a program through
// trainers/) stores its whole run config as JSON text in the metadata "config"; its key
// "model_config" says which network it is ("model": "velocity_mlp" | "unet" | "dit" | "text-dit")
// and every size needed to rebuild it. load_model() reads such a file back into a ready-to-sample
// network, so a program embedding rflow loads what the CLI trained, and the other way round.
//
// Configs come from files, so they are not trusted: every size is checked against the limits
// below, and the parameter count is estimated before any weight is allocated. Errors
// (rflow::Error) name the file and the key.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rflow/export.hpp"
#include "rflow/io/safetensors.hpp"
#include "rflow/nn/classifier.hpp"
#include "rflow/nn/dit.hpp"
#include "rflow/nn/lora.hpp"
#include "rflow/nn/text_dit.hpp"
#include "rflow/nn/unet.hpp"
#include "rflow/nn/velocity_mlp.hpp"
#include "rflow/nn/velocity_model.hpp"

namespace rflow {

/// Upper bounds of the sizes a model config (or a CLI flag that makes one) may ask for.
namespace model_limits {
constexpr int64_t kMaxWidth = 16384;                   ///< hidden widths, channels, token widths, latents
constexpr int64_t kMaxDepth = 256;                     ///< layers, blocks
constexpr int64_t kMaxHeads = 1024;                    ///< attention heads
constexpr int64_t kMaxImageSize = 2048;                ///< image side in pixels
constexpr int64_t kMaxParameters = int64_t{1} << 30;   ///< network parameters (4 GiB of float32 weights)
constexpr int64_t kMaxClasses = 1'000'000;             ///< classes of a class-conditional model
constexpr int64_t kMaxChannelMult = 64;                ///< a U-Net level's channel multiplier
}  // namespace model_limits

/// Model configs as JSON text (one object; "model" names the kind) and back. The readers check
/// every key's presence, type and range; `source` (a file name) starts their error messages.
RFLOW_API std::string model_config_json(const nn::VelocityMLPConfig& cfg);
RFLOW_API std::string model_config_json(const nn::UNetConfig& cfg);
RFLOW_API std::string model_config_json(const nn::DiTConfig& cfg);
/// A text-conditioned DiT with its tokenizer (pieces as hex, so any bytes survive JSON).
RFLOW_API std::string model_config_json(const nn::TextDiT& model);
RFLOW_API nn::VelocityMLPConfig velocity_mlp_config_from_json(const std::string& json, const std::string& source);
RFLOW_API nn::UNetConfig unet_config_from_json(const std::string& json, const std::string& source);
RFLOW_API nn::DiTConfig dit_config_from_json(const std::string& json, const std::string& source);

/// LoRA settings as stored under a fine-tune checkpoint's config key "lora", and back.
RFLOW_API std::string lora_config_json(const nn::LoRATargets& targets, const nn::LoRAConfig& cfg);
RFLOW_API void lora_config_from_json(const std::string& json, const std::string& source, nn::LoRATargets& targets,
                                     nn::LoRAConfig& cfg);

/// A network built from its config, and what a sampler needs to know about it.
struct RFLOW_API LoadedModel {
    std::unique_ptr<nn::VelocityModel> model;
    std::string kind;    ///< "velocity_mlp", "unet", "dit" or "text-dit"
    Shape sample_shape;  ///< one sample: [D] for points, [C, H, W] for images
    bool is_image = false;
    std::string config;  ///< the checkpoint's whole config JSON (model_config, dataset, label, ...); for
                         ///< build_model and import_weights, just the model config
    std::string path;    ///< the file it came from (empty for build_model)
    int64_t step = 0;    ///< training steps of the checkpoint
};

/// A freshly initialised network (weights drawn from `init`) from a model config.
RFLOW_API LoadedModel build_model(const std::string& model_config, Generator& init, const std::string& source = "model config");

/// Loads a checkpoint written by rflow's trainers: rebuilds the network from the config's
/// "model_config", loads the weights (the EMA weights when the file has them and use_ema), and
/// merges the adapters of a LoRA fine-tune (config "lora"). The model comes back in eval mode on
/// the CPU (move it with model->to(Device::cuda)). rflow::Error naming the file and key otherwise.
RFLOW_API LoadedModel load_model(const std::string& path, bool use_ema = true);

/// Plain weight files, to and from other tools (PyTorch, diffusers-style state_dicts): the model's
/// tensors under their state_dict() names (the names of the PyTorch twin, examples/torch_twin.py),
/// as F32, F16 or BF16, with metadata "format" = "rflow-weights-1" and "model_config" (so that
/// import_weights needs no config for files rflow wrote). rflow::Error naming the file otherwise.
RFLOW_API void export_weights(const std::string& path, const nn::Module& model, const std::string& model_config,
                              io::DType dtype = io::DType::F32);

/// A network built from `model_config` (empty: the file's "model_config" metadata) holding the
/// weights of a plain safetensors state_dict: any float dtype, names as state_dict() gives them, a
/// prefix "model." or "module." (PyTorch's DataParallel) dropped when every name has it. Error
/// naming the file and the first missing, extra or mis-shaped tensor (errors in a given config name
/// `config_source`, e.g. the file it came from). Eval mode, on the CPU.
RFLOW_API LoadedModel import_weights(const std::string& path, const std::string& model_config = "",
                                     const std::string& config_source = "model config");

/// The image classifier written by `rflow train-classifier` (config "classifier_config"), in eval mode.
RFLOW_API std::unique_ptr<nn::Classifier> load_classifier(const std::string& path);
/// The config JSON text train-classifier stores under "classifier_config".
RFLOW_API std::string classifier_config_json(const nn::ClassifierConfig& cfg);

}  // namespace rflow
