// IDX readers (gzip or plain, through zlib's gzread; restarted on transient I/O errors) and the
// Fashion-MNIST split loader.
#include "rflow/data/idx.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

#include <zlib.h>

#include "rflow/error.hpp"
#include "rflow/io/fault_injection.hpp"
#include "rflow/io/file_retry.hpp"
#include "rflow/retry.hpp"

namespace rflow::data {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

// An open gzFile that closes itself; gzread reads plain files unchanged.
class GzReader {
public:
    explicit GzReader(const std::string& path) : path_(path) {
        struct stat st {};
        if (const int fake = io::testing::take_fault(io::testing::FaultSite::read))
            RFLOW_IO_FAIL(fake, "cannot open IDX file '" << path << "': " << std::strerror(fake));
        if (::stat(path.c_str(), &st) != 0) {
            const int err = errno;
            RFLOW_IO_FAIL(err, "cannot read IDX file '" << path << "': " << std::strerror(err));
        }
        RFLOW_CHECK(!S_ISDIR(st.st_mode), "cannot read IDX file '" << path << "': it is a directory");
        RFLOW_CHECK(S_ISREG(st.st_mode), "cannot read IDX file '" << path
                                                                  << "': not a regular file (a FIFO or a device)");
        errno = 0;
        f_ = gzopen(path.c_str(), "rb");
        if (!f_) {
            const int err = errno;
            RFLOW_IO_FAIL(err, "cannot open IDX file '" << path << "': " << (err ? std::strerror(err) : "out of memory"));
        }
    }
    ~GzReader() {
        if (f_) gzclose(f_);
    }
    GzReader(const GzReader&) = delete;
    GzReader& operator=(const GzReader&) = delete;

    // Reads up to n bytes; returns how many were read (fewer only at the end of the data).
    size_t read(void* out, size_t n) {
        size_t got = 0;
        auto* p = static_cast<unsigned char*>(out);
        while (got < n) {
            const unsigned want = static_cast<unsigned>(std::min<size_t>(n - got, size_t(1) << 30));
            const int r = gzread(f_, p + got, want);
            if (r < 0) {
                int errnum = 0;
                const int sys_err = errno;
                const char* msg = gzerror(f_, &errnum);
                if (errnum == Z_ERRNO)
                    RFLOW_IO_FAIL(sys_err, "cannot read IDX file '" << path_ << "': " << std::strerror(sys_err));
                RFLOW_FAIL("cannot read IDX file '" << path_ << "': " << msg << " (corrupt or truncated gzip data)");
            }
            if (r == 0) break;
            got += static_cast<size_t>(r);
        }
        return got;
    }

private:
    std::string path_;
    gzFile f_ = nullptr;
};

uint32_t be32(const unsigned char* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

struct IdxBytes {
    std::vector<int64_t> dims;
    std::vector<uint8_t> data;
};

// Reads a u8 IDX file with the given magic; checks the header, overflow, truncation and trailing bytes.
IdxBytes read_idx_u8_once(const std::string& path, uint32_t magic, const char* what) {
    GzReader in(path);
    unsigned char head[4];
    const size_t got_head = in.read(head, 4);
    RFLOW_CHECK(got_head == 4, "IDX file '" << path << "' is too short: " << got_head
                                            << " bytes, not even the 4-byte magic number");
    const uint32_t m = be32(head);
    if (m != magic) {
        std::string hint;
        if (m == kImagesMagic) hint = " (this is an IDX image file)";
        else if (m == kLabelsMagic) hint = " (this is an IDX label file)";
        else if (head[0] == 0x1f && head[1] == 0x8b) hint = " (gzip data inside gzip data?)";
        else if (head[0] != 0 || head[1] != 0) hint = " (not an IDX file)";
        else if (head[2] != 0x08) hint = " (element type " + hex32(head[2]) + ", only unsigned bytes 0x08 are read)";
        RFLOW_FAIL("IDX file '" << path << "' has the wrong magic number " << hex32(m) << ", expected " << hex32(magic)
                                << " for " << what << hint);
    }
    const int nd = static_cast<int>(magic & 0xff);
    std::vector<unsigned char> dims_raw(4 * static_cast<size_t>(nd));
    const size_t got_dims = in.read(dims_raw.data(), dims_raw.size());
    RFLOW_CHECK(got_dims == dims_raw.size(), "IDX file '" << path << "' is truncated: the header needs " << nd
                                                          << " dimension sizes (" << dims_raw.size()
                                                          << " bytes) but only " << got_dims << " follow");
    IdxBytes out;
    int64_t total = 1;
    std::string dims_text;
    for (int d = 0; d < nd; ++d) {
        const int64_t v = be32(&dims_raw[4 * d]);
        out.dims.push_back(v);
        dims_text += (d ? " x " : "") + std::to_string(v);
    }
    // Bytes, and later 4-byte floats, must fit in an int64: cap the product at 2^60. A zero count
    // counts as 1 here, so that "0 images of 2^31 x 2^31" cannot slip past the cap.
    int64_t capacity = 1;
    for (int d = 0; d < nd; ++d) {
        RFLOW_CHECK(!__builtin_mul_overflow(capacity, std::max<int64_t>(out.dims[d], 1), &capacity) &&
                        capacity <= (int64_t(1) << 60),
                    "IDX file '" << path << "': dimensions " << dims_text << " overflow (too large to hold)");
        total *= out.dims[d];
    }
    for (int d = 1; d < nd; ++d)
        RFLOW_CHECK(out.dims[d] > 0, "IDX file '" << path << "': dimensions " << dims_text << " have a zero size");
    // Grow the buffer with the data actually read, so a lying header cannot force a huge allocation:
    // the next chunk is as large as what has been read so far (64 KiB to 16 MiB), so the buffer is at
    // most twice the bytes the file really holds.
    int64_t got = 0;
    while (got < total) {
        const int64_t chunk = std::clamp<int64_t>(got, int64_t(64) << 10, int64_t(16) << 20);
        const int64_t want = std::min(chunk, total - got);
        out.data.resize(static_cast<size_t>(got + want));
        const size_t r = in.read(out.data.data() + got, static_cast<size_t>(want));
        got += static_cast<int64_t>(r);
        if (static_cast<int64_t>(r) < want) break;
    }
    RFLOW_CHECK(got == total, "IDX file '" << path << "' is truncated: the header says " << dims_text << " = " << total
                                           << " bytes of data but the file holds only " << got);
    unsigned char extra[256];
    const size_t more = in.read(extra, sizeof extra);
    RFLOW_CHECK(more == 0, "IDX file '" << path << "' has " << (more == sizeof extra ? "at least " : "") << more
                                        << " bytes after the " << total << " bytes of data its header (" << dims_text
                                        << ") describes");
    return out;
}

// read_idx_u8_once, restarted from scratch on transient I/O errors (io::file_retry_policy()).
IdxBytes read_idx_u8(const std::string& path, uint32_t magic, const char* what) {
    IdxBytes out;
    io::with_file_retries([&] { out = read_idx_u8_once(path, magic, what); });
    return out;
}

bool file_exists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}

std::string split_file(const std::string& dir, const std::string& name) {
    const std::string base = dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
    if (file_exists(base + ".gz")) return base + ".gz";
    if (file_exists(base)) return base;
    RFLOW_FAIL("missing dataset file '" << base << ".gz' (nor '" << base
                                        << "' uncompressed); install Debian's dataset-fashion-mnist or pass the "
                                           "directory holding the IDX files");
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
    IdxBytes raw = read_idx_u8(path, kImagesMagic, "images");
    IdxImages out;
    out.count = raw.dims[0];
    out.height = raw.dims[1];
    out.width = raw.dims[2];
    out.images = Tensor::empty({out.count, 1, out.height, out.width});
    float lut[256];
    for (int v = 0; v < 256; ++v) lut[v] = static_cast<float>(v) / 127.5f - 1.f;
    float* dst = out.images.data();
    const size_t n = raw.data.size();
    for (size_t i = 0; i < n; ++i) dst[i] = lut[raw.data[i]];
    return out;
}

std::vector<int64_t> read_idx_labels(const std::string& path) {
    IdxBytes raw = read_idx_u8(path, kLabelsMagic, "labels");
    return std::vector<int64_t>(raw.data.begin(), raw.data.end());
}

MnistSplit load_fashion_mnist(const std::string& dir, bool train) {
    struct stat st {};
    RFLOW_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode),
                "Fashion-MNIST directory '" << dir << "' does not exist (install Debian's dataset-fashion-mnist or "
                                            "pass the directory holding the IDX files)");
    const std::string prefix = train ? "train" : "t10k";
    const std::string images_path = split_file(dir, prefix + "-images-idx3-ubyte");
    const std::string labels_path = split_file(dir, prefix + "-labels-idx1-ubyte");
    MnistSplit out;
    out.images = read_idx_images(images_path).images;
    out.labels = read_idx_labels(labels_path);
    RFLOW_CHECK(out.images.size(0) == static_cast<int64_t>(out.labels.size()),
                "image and label counts disagree: '" << images_path << "' holds " << out.images.size(0)
                                                     << " images but '" << labels_path << "' holds "
                                                     << out.labels.size() << " labels");
    RFLOW_CHECK(out.images.size(0) > 0, "IDX file '" << images_path << "' holds no images");
    const int64_t classes = static_cast<int64_t>(fashion_mnist_class_names().size());
    for (size_t i = 0; i < out.labels.size(); ++i)
        RFLOW_CHECK(out.labels[i] < classes, "IDX file '" << labels_path << "': label " << i << " is " << out.labels[i]
                                                           << " (expected 0 to " << classes - 1 << ")");
    return out;
}

const std::vector<std::string>& fashion_mnist_class_names() {
    static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    return names;
}

}  // namespace rflow::data
