// PNG plots for people who would rather look than read: scatter panels and loss curves.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::io {

/// One square panel of a scatter figure: 2-D points [N, 2] drawn on [-extent, extent]^2.
struct ScatterPanel {
    std::string title;
    Tensor points;
    std::array<uint8_t, 3> rgb{31, 119, 180};
};

/// Writes the panels side by side (each `size` pixels square) as a PNG, atomically, with a
/// footer line (e.g. the generation settings). Error if this build has no OpenCV.
RFLOW_API void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>& panels,
                                 float extent = 6.f, int size = 400, const std::string& footer = "");

/// Writes a line plot of `values` (e.g. a loss curve, log-scaled y when log_y) as a PNG.
RFLOW_API void write_curve_png(const std::string& path, const std::string& title, const std::vector<float>& values,
                               bool log_y = true, int width = 640, int height = 360);

/// True when this build can write PNGs (OpenCV found at configure time).
RFLOW_API bool png_supported();

}  // namespace rflow::io
