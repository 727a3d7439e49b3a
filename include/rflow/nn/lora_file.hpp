// LoRA adapters on disk in PEFT's layout (DESIGN.md section 4): a directory with
//   adapter_model.safetensors  "base_model.model.<module>.lora_A.weight" [r, in],
//                              "base_model.model.<module>.lora_B.weight" [out, r]
//                              (+ "...lora_magnitude_vector" [out] with DoRA)
//   adapter_config.json        peft_type "LORA", r, lora_alpha, lora_dropout, target_modules,
//                              use_rslora, use_dora, rank_pattern, alpha_pattern, ...
// The loader also reads kohya/diffusers files ("<prefix>_<module with _>.lora_down.weight",
// ".lora_up.weight", ".alpha" with s = alpha / r), and reports every key that matched no module
// instead of ignoring it.
#pragma once

#include <memory>
#include <string>

#include "rflow/nn/lora.hpp"

namespace rflow::nn {

/// Writes the adapters of `lora` (made from `targets` and `cfg`) to `dir` (created if needed).
/// base_model is recorded as base_model_name_or_path. Files are written atomically.
RFLOW_API void save_lora_adapter(const std::string& dir, const LoRAModel& lora, const LoRATargets& targets,
                                 const LoRAConfig& cfg, const std::string& base_model = "");

/// Attaches the adapter stored at `path` (a PEFT directory, or a kohya .safetensors file) to
/// `model`, scaled by `weight` (the output change is weight * s B A). Errors name the file and
/// the keys that matched no Linear of the model, or the modules left without a factor.
RFLOW_API std::unique_ptr<LoRAModel> load_lora_adapter(const std::string& path, Module& model, float weight = 1.f);

}  // namespace rflow::nn
