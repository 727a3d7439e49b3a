// `rflow gan train` and `rflow gan sample`: WGAN-GP and the ReFlow-derived GANs from the CLI.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace rflow::cli {

/// Registers the `gan` command; the returned function runs it when parsed (else returns -1).
std::function<int()> add_gan_commands(CLI::App& app);

}  // namespace rflow::cli
