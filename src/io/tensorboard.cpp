// TensorBoard event files: Event protobufs written by hand (protobuf_wire.hpp) in TFRecord framing,
// one write per record, and the records read back with both CRCs checked.
//
// TFRecord framing of each record (all little endian):
//   uint64 length | uint32 masked_crc32c(the 8 length bytes) | data[length] | uint32 masked_crc32c(data)
// Messages (field number, wire type), from tensorflow/core/util/event.proto and summary.proto:
//   Event         wall_time (1, double), step (2, varint), file_version (3, string), summary (5, message)
//   Summary       value (1, repeated message)
//   Summary.Value tag (1, string), simple_value (2, float), image (4, message), tensor (8, message),
//                 metadata (9, message)
//   Image         height (1), width (2), colorspace (3: 1 grey, 3 RGB), encoded_image_string (4, bytes)
//   SummaryMetadata  plugin_data (1){plugin_name (1, string)}
//   TensorProto   dtype (1, enum: 7 = DT_STRING), tensor_shape (2, message; empty = scalar), string_val (8)
#include "rflow/io/tensorboard.hpp"

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "protobuf_wire.hpp"
#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/io/crc32c.hpp"
#include "rflow/io/fault_injection.hpp"
#include "rflow/io/image.hpp"

namespace rflow::io {

namespace {

std::string errno_text(int err) { return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")"; }

double now_seconds() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
    char buf[256] = {};
    std::string h = ::gethostname(buf, sizeof buf - 1) == 0 ? buf : "";
    for (char& c : h)  // keep the file name one path component of plain characters
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') c = '_';
    return h.empty() ? "localhost" : h;
}

uint32_t le32(const uint8_t* p) {
    return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

uint64_t le64(const uint8_t* p) { return uint64_t(le32(p)) | (uint64_t(le32(p + 4)) << 32); }

// One TFRecord: length, its masked CRC, the data, the data's masked CRC.
std::string frame_record(const std::string& data) {
    std::string rec;
    rec.reserve(data.size() + 16);
    pb::put_le(rec, data.size(), 8);
    pb::put_le(rec, masked_crc32c(rec.data(), 8), 4);
    rec += data;
    pb::put_le(rec, masked_crc32c(data.data(), data.size()), 4);
    return rec;
}

// Event{wall_time, step, summary{value}} around one serialized Summary.Value.
std::string summary_event(int64_t step, const std::string& value) {
    std::string summary, event;
    pb::put_bytes(summary, 1, value);
    pb::put_double(event, 1, now_seconds());
    pb::put_int(event, 2, step);
    pb::put_bytes(event, 5, summary);
    return event;
}

std::string value_tag(const std::string& tag) {
    RFLOW_CHECK(!tag.empty(), "TensorBoard tag must not be empty");
    std::string v;
    pb::put_bytes(v, 1, tag);
    return v;
}

}  // namespace

struct TensorBoardWriter::Impl {
    std::string path;
    int fd = -1;
    uint64_t size = 0;  // bytes of whole records written
    std::mutex mutex;

    ~Impl() {
        if (fd >= 0) ::close(fd);
    }

    // Writes one framed record at the end of the file; on failure cuts the file back to `size`.
    void write_record(const std::string& data) {
        const std::string rec = frame_record(data);
        std::lock_guard<std::mutex> lock(mutex);
        RFLOW_CHECK(fd >= 0, "TensorBoard event file '" << path << "' is closed");
        size_t done = 0;
        int err = 0;
        if (const int fake = testing::take_fault(testing::FaultSite::write)) {
            // as if the disk filled up half-way through the record
            done = rec.size() / 2;
            if (::pwrite(fd, rec.data(), done, static_cast<off_t>(size)) != static_cast<ssize_t>(done)) done = 0;
            err = fake;
        }
        while (!err && done < rec.size()) {
            const ssize_t n = ::pwrite(fd, rec.data() + done, rec.size() - done, static_cast<off_t>(size + done));
            if (n > 0) done += static_cast<size_t>(n);
            else if (n < 0 && errno != EINTR) err = errno;
            else if (n == 0) err = EIO;
        }
        if (err) {
            const bool cut = ::ftruncate(fd, static_cast<off_t>(size)) == 0;
            RFLOW_FAIL("cannot write TensorBoard event file '"
                       << path << "': " << errno_text(err)
                       << (cut ? "; the file ends at its last whole record" : "; the file may end in a torn record"));
        }
        size += rec.size();
    }
};

TensorBoardWriter::TensorBoardWriter(const std::string& dir) : impl_(std::make_unique<Impl>()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    RFLOW_CHECK(!ec, "cannot create TensorBoard log directory '" << dir << "': " << ec.message());
    const std::string stem = (std::filesystem::path(dir) / "events.out.tfevents.").string() +
                             std::to_string(static_cast<long long>(now_seconds())) + "." + host_name() + ".rflow";
    for (int i = 0; impl_->fd < 0;) {  // O_EXCL: never overwrite, take the next free suffix instead
        impl_->path = i == 0 ? stem : stem + "." + std::to_string(i);
        impl_->fd = ::open(impl_->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        const int err = errno;
        if (impl_->fd >= 0 || err == EINTR) continue;
        RFLOW_CHECK(err == EEXIST && i < 999,
                    "cannot create TensorBoard event file '" << impl_->path << "': " << errno_text(err));
        ++i;
    }
    std::string event;
    pb::put_double(event, 1, now_seconds());
    pb::put_bytes(event, 3, std::string("brain.Event:2"));
    try {
        impl_->write_record(event);
    } catch (...) {
        ::unlink(impl_->path.c_str());  // no file without its version record
        throw;
    }
}

TensorBoardWriter::~TensorBoardWriter() {
    if (impl_ && impl_->fd >= 0) ::fsync(impl_->fd);  // Impl closes it
}

TensorBoardWriter::TensorBoardWriter(TensorBoardWriter&&) noexcept = default;

TensorBoardWriter& TensorBoardWriter::operator=(TensorBoardWriter&& other) noexcept {
    if (this != &other) {
        TensorBoardWriter old(std::move(*this));  // flushed and closed at the end of this scope
        impl_ = std::move(other.impl_);
    }
    return *this;
}

const std::string& TensorBoardWriter::path() const {
    static const std::string none;
    return impl_ ? impl_->path : none;
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
    RFLOW_CHECK(impl_, "TensorBoardWriter used after a move");
    std::string v = value_tag(tag);
    pb::put_float(v, 2, static_cast<float>(value));
    impl_->write_record(summary_event(step, v));
}

void TensorBoardWriter::add_image(const std::string& tag, const Tensor& images, int64_t step, int columns,
                                  int padding) {
    RFLOW_CHECK(impl_, "TensorBoardWriter used after a move");
    const bool one = images.defined() && images.dim() == 3;
    const int64_t c = !images.defined() ? 0 : one ? images.size(0) : images.dim() == 4 ? images.size(1) : 0;
    RFLOW_CHECK(c == 1 || c == 3, "TensorBoard image '" << tag << "' for '" << impl_->path
                                  << "' must be [C, H, W] or [N, C, H, W] with C = 1 or 3, got "
                                  << (images.defined() ? shape_str(images.shape()) : "undefined"));
    const std::vector<uint8_t> png =
        one ? encode_image_grid_png(images.unsqueeze(0), 1, 0) : encode_image_grid_png(images, columns, padding);
    // The size of the grid from the PNG's IHDR chunk (signature 8, length 4, "IHDR" 4, width, height).
    RFLOW_CHECK(png.size() >= 24, "TensorBoard image '" << tag << "': the PNG encoder returned " << png.size()
                                                        << " bytes");
    std::string image;
    pb::put_int(image, 1, (int64_t{png[20]} << 24) | (png[21] << 16) | (png[22] << 8) | png[23]);  // height
    pb::put_int(image, 2, (int64_t{png[16]} << 24) | (png[17] << 16) | (png[18] << 8) | png[19]);  // width
    pb::put_int(image, 3, c);
    pb::put_bytes(image, 4, png.data(), png.size());
    std::string v = value_tag(tag);
    pb::put_bytes(v, 4, image);
    impl_->write_record(summary_event(step, v));
}

void TensorBoardWriter::add_text(const std::string& tag, const std::string& text, int64_t step) {
    RFLOW_CHECK(impl_, "TensorBoardWriter used after a move");
    std::string plugin_data, metadata, tensor;
    pb::put_bytes(plugin_data, 1, std::string("text"));
    pb::put_bytes(metadata, 1, plugin_data);
    pb::put_int(tensor, 1, 7);                // DT_STRING
    pb::put_bytes(tensor, 2, std::string());  // shape [] (a scalar)
    pb::put_bytes(tensor, 8, text);
    std::string v = value_tag(tag);
    pb::put_bytes(v, 8, tensor);
    pb::put_bytes(v, 9, metadata);
    impl_->write_record(summary_event(step, v));
}

void TensorBoardWriter::flush() {
    RFLOW_CHECK(impl_, "TensorBoardWriter used after a move");
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->fd >= 0 && ::fsync(impl_->fd) != 0) {
        const int err = errno;
        RFLOW_FAIL("cannot flush TensorBoard event file '" << impl_->path << "': " << errno_text(err));
    }
}

std::vector<std::string> read_tensorboard_events(const std::string& path) {
    const std::vector<uint8_t> f = read_file(path);
    std::vector<std::string> records;
    size_t at = 0;
    while (at < f.size()) {
        const size_t left = f.size() - at;
        RFLOW_CHECK(left >= 12, "TensorBoard event file '" << path << "' is truncated: the record at byte " << at
                                                           << " has " << left << " of its 12 header bytes");
        RFLOW_CHECK(masked_crc32c(&f[at], 8) == le32(&f[at + 8]),
                    "TensorBoard event file '" << path << "': bad length CRC in the record at byte " << at);
        const uint64_t len = le64(&f[at]);
        RFLOW_CHECK(left >= 16 && len <= left - 16,
                    "TensorBoard event file '" << path << "' is truncated: the record at byte " << at << " needs " << len
                                               << " + 16 bytes, " << left << " are left");
        const uint8_t* data = &f[at + 12];
        RFLOW_CHECK(masked_crc32c(data, len) == le32(data + len),
                    "TensorBoard event file '" << path << "': bad data CRC in the record at byte " << at);
        records.emplace_back(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
        at += 16 + static_cast<size_t>(len);
    }
    return records;
}

}  // namespace rflow::io
