// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or plain, and the Fashion-MNIST
// loader on top of them.
//
// Format (big-endian): bytes 0-1 zero, byte 2 the element type (0x08 = unsigned byte, the only one
// read here), byte 3 the number of dimensions d; then d 32-bit sizes; then the elements in
// row-major order. Images are magic 0x00000803 (N x H x W), labels 0x00000801 (N).
// A file is read through zlib's gzread, which also reads an uncompressed file as it is.
//
// Checks, each an rflow::Error naming the file: missing or unreadable file; short header; wrong
// magic (with the expected one); zero height or width; N x H x W that overflows (more than
// 2^60 bytes); data shorter than the header says (truncated) or longer (trailing bytes);
// a corrupt gzip stream. Transient I/O errors (EINTR, EAGAIN, EBUSY) restart the read under
// io::file_retry_policy() (rflow/io/file_retry.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::data {

/// Images read from an IDX file: `images` is float32 [N, 1, H, W] with byte v mapped to
/// v / 127.5 - 1 (0 -> -1, 255 -> 1).
struct IdxImages {
    Tensor images;       ///< [N, 1, H, W] in [-1, 1]
    int64_t count = 0;   ///< N
    int64_t height = 0;  ///< H (rows)
    int64_t width = 0;   ///< W (columns)
};

/// Reads an IDX image file (magic 0x00000803, u8 N x H x W), gzip or plain.
RFLOW_API IdxImages read_idx_images(const std::string& path);

/// Reads an IDX label file (magic 0x00000801, u8 N), gzip or plain.
RFLOW_API std::vector<int64_t> read_idx_labels(const std::string& path);

/// One split of an MNIST-style dataset.
struct MnistSplit {
    Tensor images;                ///< [N, 1, 28, 28] in [-1, 1]
    std::vector<int64_t> labels;  ///< N class indices (0 .. 9 for Fashion-MNIST)
};

/// Loads Fashion-MNIST (or MNIST: same file names) from `dir`: the training split
/// (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz; 60000 images) or, when `train` is
/// false, the test split (t10k-...; 10000 images). A name without ".gz" is used when only the
/// uncompressed file exists. rflow::Error when a file is missing or the image and label counts
/// disagree (naming both files). Debian's dataset-fashion-mnist installs the default directory.
RFLOW_API MnistSplit load_fashion_mnist(const std::string& dir = "/usr/share/datasets/fashion-mnist",
                                        bool train = true);

/// The ten Fashion-MNIST class names, by label ("T-shirt/top", "Trouser", ..., "Ankle boot").
RFLOW_API const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace rflow::data
