// Images as files: sample grids and single images written as PNG (atomically, with text metadata
// such as the generation settings embedded as tEXt/iTXt chunks), the metadata read back, and
// images read into tensors.
//
// Pixel convention: float values in [-1, 1] map to bytes by round((v + 1) * 127.5), clamped to
// [0, 255] (NaN -> 0); bytes map back by v / 127.5 - 1. Tensors are [C, H, W] or [N, C, H, W]
// with C = 1 (grey) or 3 (RGB order; OpenCV's BGR stays inside the library).
// Reading and writing pixels needs OpenCV (rflow::Error when built without it, see
// png_supported() in rflow/io/plot.hpp); the text-chunk functions need only zlib.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::io {

/// Key/value text metadata of a PNG, in file order.
using PngText = std::vector<std::pair<std::string, std::string>>;

/// Writes images [N, C, H, W] (C = 1 or 3, values in [-1, 1], any device) as one PNG grid, row by
/// row from the top left: `columns` tiles per row (0 = ceil(sqrt(N)); clamped to N), each tile
/// H*scale x W*scale (nearest-neighbour upscaling, scale >= 1), `padding` white pixels between
/// tiles and around the border; unused cells of the last row are white. The PNG is grey for C = 1
/// and RGB for C = 3, so a grid of size
///   (rows * (H*scale + padding) + padding) x (columns * (W*scale + padding) + padding).
/// `text` (e.g. {"model", ...}, {"seed", "7"}, {"solver", "rk4"}, {"steps", "20"}) is embedded as
/// tEXt chunks (iTXt for values with non-ASCII UTF-8) right after IHDR; read_png_text returns it.
/// Keys: 1-79 printable ASCII characters, no leading, trailing or double spaces; values: no NUL.
/// The file is written atomically (temporary file, fsync, rename).
RFLOW_API void write_image_grid_png(const std::string& path, const Tensor& images, int columns = 0,
                                    int padding = 2, int scale = 1, const PngText& text = {});

/// The PNG bytes that write_image_grid_png writes (same arguments, layout and checks), for writers
/// that store PNGs inside other files (e.g. TensorBoard event files). Needs OpenCV.
RFLOW_API std::vector<uint8_t> encode_image_grid_png(const Tensor& images, int columns = 0, int padding = 2,
                                                     int scale = 1, const PngText& text = {});

/// Writes one image [C, H, W] (C = 1 or 3, values in [-1, 1]) as a PNG of H x W pixels,
/// atomically, with optional text chunks as in write_image_grid_png.
RFLOW_API void write_image_png(const std::string& path, const Tensor& image, const PngText& text = {});

/// The text chunks of a PNG file (tEXt, zTXt and iTXt; Latin-1 converted to UTF-8), in file order.
/// rflow::Error naming the file when it is missing, not a PNG, truncated or has a bad chunk CRC.
RFLOW_API PngText read_png_text(const std::string& path);

/// Returns an encoded PNG with `text` inserted as tEXt/iTXt chunks after IHDR (for writers that
/// encode PNGs themselves). rflow::Error on a buffer that is not a PNG or an invalid key/value.
RFLOW_API std::vector<uint8_t> png_add_text(const std::vector<uint8_t>& png, const PngText& text);

/// Largest image decoded from a file: pixels per side, and pixels in all (checked from the header,
/// before decoding; image folders are held to the same limits).
constexpr int64_t kMaxDecodeSide = 16384;
constexpr int64_t kMaxDecodePixels = int64_t{1} << 28;

/// Reads an image file (PNG, JPEG, or anything cv::imread reads) as float32 [C, H, W] in [-1, 1]:
/// channels = 1 gives grey, 3 gives RGB (alpha dropped, 16-bit scaled to 8-bit).
/// rflow::Error naming the file when it is missing, not a regular file, larger than
/// kMaxDecodeSide / kMaxDecodePixels, or cannot be decoded.
RFLOW_API Tensor read_image(const std::string& path, int channels = 3);

}  // namespace rflow::io
