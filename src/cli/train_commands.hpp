// `rflow train`, `rflow reflow`, `rflow distill`: flow-matching training on 2-D data.
#pragma once

#include <CLI/CLI.hpp>

namespace rflow::cli {

/// Adds the three training subcommands; the returned function runs whichever was chosen
/// (returns -1 if none of them was).
std::function<int()> add_train_commands(CLI::App& app);

}  // namespace rflow::cli
