// LoRA fine-tuning flags shared by `rflow train --base` and `rflow train-images --base`: the
// adapter settings, target parsing, and the setup (adapters attached, LoRA-GA's gradient
// estimate on fresh samples inside the same run).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "rflow/nn/lora.hpp"

namespace rflow::cli {

struct LoRAFlags {
    std::string base;  ///< the trained model to fine-tune; empty = train from scratch
    nn::LoRAConfig cfg;
    std::string targets;
    float plus_ratio = 16.f;  // LoRA+ default (1 = plain LoRA)
    int64_t ga_samples = 128;
    bool targets_given = false;  ///< --lora-targets on the command line (else `targets` is the default)
};

void add_lora_flags(CLI::App* c, LoRAFlags& f, const std::string& default_targets);

/// "a,b,re:x" -> targets. BadInput naming --lora-targets for an empty list, an empty or invalid
/// regex, or names mixed with regexes (PEFT's target_modules is a list of names or one regex).
nn::LoRATargets parse_lora_targets(const std::string& list);

/// Checks the LoRA flags that are known before any model exists (targets, init, DoRA's
/// combinations), so that a fine-tune fails before its first step rather than at the export.
void check_lora_flags(const LoRAFlags& f);

/// The targets to adapt on `model`: --lora-targets as given, or the command's default narrowed to
/// the layers wide enough for the rank (2 rank for lora-ga); the skipped layers are named on stderr.
nn::LoRATargets lora_targets_for(nn::Module& model, const LoRAFlags& f);

/// Attaches the adapters (BadInput on bad settings); with --lora-init lora-ga, initialises them
/// from the gradient of `loss_of(m, gen)` (nn::LoRAModel::init_lora_ga, streaming).
std::unique_ptr<nn::LoRAModel> setup_lora(nn::Module& model, const LoRAFlags& f, const nn::LoRATargets& targets,
                                          Generator& init, const std::function<Tensor(int64_t, Generator&)>& loss_of,
                                          uint64_t seed);

}  // namespace rflow::cli
