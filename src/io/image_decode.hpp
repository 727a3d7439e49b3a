// Reading an image file into an OpenCV matrix (private to the library: public headers never name
// OpenCV types). The bytes come through io::read_file, so transient I/O errors are retried.
#pragma once

#ifdef RFLOW_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <string>

namespace rflow::io::detail {

/// 8-bit grayscale (channels 1) or BGR (channels 3) pixels of the file; rflow::Error naming the
/// path when it cannot be read or decoded.
cv::Mat decode_image_file(const std::string& path, int channels);

}  // namespace rflow::io::detail
#endif
