// TensorBoard event files: a writer for scalars, images and text that `tensorboard --logdir` reads,
// and a reader of the raw records (for tests and tools).
//
// File format (TFRecord framing of serialized tensorflow.Event protobufs), each record:
//   uint64 length (little endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
// The first record is Event{wall_time, file_version: "brain.Event:2"}; then one Event per add_*:
//   Event{wall_time(1, double), step(2, int64), summary(5){value(1){tag(1), <payload>}}}
// with payload simple_value(2, float), image(4){height(1), width(2), colorspace(3), encoded PNG(4)},
// or, for text, metadata(9){plugin_data(1){plugin_name(1): "text"}} and a scalar string tensor(8).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::io {

/// Writes one TensorBoard event file. Durability: each add_* hands its whole record to the operating
/// system before returning (one write, no user-space buffer), so a crash or kill of the process loses
/// nothing already added; flush() also fsyncs (power loss), and the destructor flushes. A failed write
/// cuts the file back to its last whole record and throws rflow::Error naming the file, so the file
/// stays readable and later adds may go on. Calls may come from several threads.
class RFLOW_API TensorBoardWriter {
public:
    /// Creates `dir` (and its parents) if needed and a new file
    /// `<dir>/events.out.tfevents.<unix seconds>.<hostname>.rflow` in it (".1", ".2", ... appended
    /// when that name is taken: an existing file is never overwritten), then writes the file-version
    /// record. rflow::Error naming the directory or file when either cannot be created or written.
    explicit TensorBoardWriter(const std::string& dir);
    /// Flushes (errors ignored) and closes the file.
    ~TensorBoardWriter();
    TensorBoardWriter(TensorBoardWriter&&) noexcept;
    TensorBoardWriter& operator=(TensorBoardWriter&&) noexcept;
    TensorBoardWriter(const TensorBoardWriter&) = delete;
    TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

    /// The event file's path.
    const std::string& path() const;

    /// A point of the scalar curve `tag` (stored as float32, as TensorBoard's simple_value is).
    void add_scalar(const std::string& tag, double value, int64_t step);

    /// An image [C, H, W] or a grid of images [N, C, H, W] (C = 1 grey or 3 RGB, values in [-1, 1]
    /// as in rflow/io/image.hpp, any device), stored as PNG. A grid is laid out like
    /// write_image_grid_png(path, images, columns, padding): `columns` tiles per row (0 = ceil(sqrt N)),
    /// `padding` white pixels between and around tiles; [C, H, W] is stored as is. Needs OpenCV
    /// (rflow::Error otherwise, see png_supported()).
    void add_image(const std::string& tag, const Tensor& images, int64_t step, int columns = 0, int padding = 2);

    /// A text entry (UTF-8; TensorBoard renders it as Markdown) shown by the Text tab.
    void add_text(const std::string& tag, const std::string& text, int64_t step);

    /// fsyncs the file. rflow::Error naming the file on failure.
    void flush();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The records of a TFRecord / TensorBoard event file (each the bytes of one serialized Event), in
/// file order, after checking both CRCs of every record. rflow::Error naming the file when it cannot
/// be read or a record is truncated or has a bad CRC. Lengths are checked against the file's size
/// before anything is allocated, so memory stays proportional to the file's size.
RFLOW_API std::vector<std::string> read_tensorboard_events(const std::string& path);

}  // namespace rflow::io
