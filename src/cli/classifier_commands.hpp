// `rflow train-classifier`: the Fashion-MNIST classifier used by image eval, trained (or fine-tuned
// from --init) with cross-entropy, EMO or their combinations.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace rflow::cli {

/// Adds the subcommand; the returned function runs it if chosen (else -1).
std::function<int()> add_classifier_commands(CLI::App& app);

}  // namespace rflow::cli
