// PNG plots for people who would rather look than read: scatter panels and loss curves. Every
// writer takes optional PNG text (e.g. the settings that made the picture, see write_image_grid_png),
// written as tEXt/iTXt chunks, and writes the file atomically.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/io/image.hpp"
#include "rflow/tensor.hpp"

namespace rflow::io {

/// One square panel of a scatter figure: 2-D points [N, 2] drawn on [-extent, extent]^2.
struct ScatterPanel {
    std::string title;
    Tensor points;
    std::array<uint8_t, 3> rgb{31, 119, 180};
    /// Optional scalar field [G, G] under the points (e.g. a critic D(x)), sampled on the panel's
    /// grid: row 0 at y = +extent, column 0 at x = -extent, cell centres. Drawn as a pale colour
    /// map (low blue, high orange) with 10 contour lines.
    Tensor field;
};

/// Values of f at the G x G cell centres of [-extent, extent]^2 in the layout ScatterPanel::field
/// expects: f gets the points [G*G, 2] and returns [G*G].
RFLOW_API Tensor field_grid(const std::function<Tensor(const Tensor&)>& f, float extent, int64_t g = 100);

/// Writes the panels (each `size` pixels square) as a PNG, atomically, `columns` per row (0 = all
/// in one row), with a footer line (e.g. the generation settings). Error if built without OpenCV.
RFLOW_API void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>& panels,
                                 float extent = 6.f, int size = 400, const std::string& footer = "",
                                 int columns = 0, const PngText& text = {});

/// Trajectories of 2-D points: states[k] is [N, 2] at the k-th time; draws the first `max_paths`
/// paths as polylines (start points grey, end points coloured) over optional reference points.
RFLOW_API void write_trajectories_png(const std::string& path, const std::vector<Tensor>& states,
                                      const std::string& title, float extent = 3.f, int max_paths = 300,
                                      const Tensor& reference = Tensor(), int size = 500, const PngText& text = {});

/// One series of an x-y line plot.
struct XYSeries {
    std::string label;
    std::vector<double> x, y;
    std::array<uint8_t, 3> rgb{31, 119, 180};
};

/// Line plot with markers and a legend (e.g. quality against NFE), optional log axes.
RFLOW_API void write_xy_png(const std::string& path, const std::string& title, const std::string& x_label,
                            const std::string& y_label, const std::vector<XYSeries>& series, bool log_x = true,
                            bool log_y = false, int width = 720, int height = 440, const PngText& text = {});

/// A qualitative palette for series and panels.
RFLOW_API std::array<uint8_t, 3> palette(size_t i);

/// Writes a line plot of `values` (e.g. a loss curve; log-scaled y when log_y) as a PNG: values[i]
/// belongs to step first_step + i, and the x axis is labelled in steps. The raw values are drawn
/// pale under their exponential moving average, s_i = a s_{i-1} + (1 - a) v_i debiased by
/// 1 - a^(i+1) (TensorBoard's smoothing), with a = 1 - 1 / max(1, n / 50): a span of about a
/// fiftieth of the curve, so one batch's noise does not hide the trend.
RFLOW_API void write_curve_png(const std::string& path, const std::string& title, const std::vector<float>& values,
                               bool log_y = true, int width = 640, int height = 360, const PngText& text = {},
                               int64_t first_step = 1);

/// True when this build can write PNGs (OpenCV found at configure time).
RFLOW_API bool png_supported();

}  // namespace rflow::io
