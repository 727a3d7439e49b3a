// `rflow sample` and `rflow eval`: sampling trained models, and an NFE-vs-quality sweep.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace rflow::cli {

/// Adds the sample and eval subcommands; the returned function runs whichever was chosen
/// (returns -1 if neither was).
std::function<int()> add_sample_commands(CLI::App& app);

}  // namespace rflow::cli
