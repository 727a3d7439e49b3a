// `rflow train-images`: flow matching on images (Fashion-MNIST or an image folder) with a U-Net or a DiT
// (optionally conditioned on text prompts, --text).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace rflow::cli {

/// Adds the image training subcommand; the returned function runs it if chosen (else -1).
std::function<int()> add_image_commands(CLI::App& app);

}  // namespace rflow::cli
