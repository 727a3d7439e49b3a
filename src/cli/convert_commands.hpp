// `rflow convert`: model weights to and from plain safetensors state_dicts (PyTorch names, F32,
// F16 or BF16), so that rflow models travel to other tools and plain state_dicts come in.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace rflow::cli {

/// Adds the subcommand; the returned function runs it if chosen (else -1).
std::function<int()> add_convert_commands(CLI::App& app);

}  // namespace rflow::cli
