// A folder of image files as a labelled image dataset (the torchvision ImageFolder layout:
// dir/<class>/.../<image>), loaded into memory as one [N, C, size, size] tensor in [-1, 1].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::data {

/// Images and labels loaded by load_image_folder.
struct ImageFolder {
    Tensor images;                        ///< [N, C, size, size] in [-1, 1] (RGB order when C = 3)
    std::vector<int64_t> labels;          ///< N class indices into class_names (all 0 without classes)
    std::vector<std::string> class_names; ///< sorted sub-folder names (empty without classes)
    std::vector<std::string> paths;       ///< the N files, in the order of `images`
};

/// Loads every image file under `dir`, recursively, sorted by path (component by component, names
/// in byte order) so that the order is reproducible. Image files are recognised by extension,
/// case-insensitively: .png .jpg .jpeg .jpe .bmp .dib .tif .tiff .webp .jp2 .pbm .pgm .ppm .pnm
/// .pxm .sr .ras .hdr .pic .exr;
/// hidden files and folders (names starting with '.') are skipped.
///
/// Each image is read with OpenCV (EXIF orientation applied, alpha dropped), scaled so that its
/// shorter side is `size` (area interpolation when shrinking, bilinear when enlarging; the longer
/// side rounds to the nearest pixel), then centre-cropped to size x size. channels = 1 gives grey,
/// 3 gives RGB. Bytes map to v / 127.5 - 1.
///
/// With labels_from_subfolders, the label of an image is the index, among the sorted names of the
/// sub-folders of `dir` that hold images, of the sub-folder the image is in (at any depth below
/// it); an image directly in `dir` is then an error. Without it, every label is 0 and class_names
/// is empty.
///
/// rflow::Error when `dir` is missing or holds no image files, `size` < 1 or `channels` is not 1
/// or 3, a file cannot be decoded (naming it), or the build has no OpenCV.
RFLOW_API ImageFolder load_image_folder(const std::string& dir, int size, int channels = 3,
                                        bool labels_from_subfolders = true);

}  // namespace rflow::data
