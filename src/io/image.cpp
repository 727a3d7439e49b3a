// PNG grids and single images from [-1, 1] tensors (OpenCV encodes, we add tEXt/iTXt chunks with
// zlib's crc32 and write atomically, or hand back the bytes), PNG text chunks read back, and images
// read into tensors.
#include "rflow/io/image.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <sys/stat.h>

#include <zlib.h>

#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "image_decode.hpp"

#ifdef RFLOW_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace rflow::io {

namespace {

constexpr unsigned char kPngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr int kMaxSide = 1 << 16;

uint32_t be32(const uint8_t* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
    out.push_back(uint8_t(v >> 24));
    out.push_back(uint8_t(v >> 16));
    out.push_back(uint8_t(v >> 8));
    out.push_back(uint8_t(v));
}

bool is_ascii(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

void check_keyword(const std::string& key) {
    RFLOW_CHECK(!key.empty() && key.size() <= 79, "PNG text key '" << key << "' must have 1 to 79 characters");
    for (char c : key)
        RFLOW_CHECK(c >= 32 && c <= 126, "PNG text key '" << key << "' must be printable ASCII");
    RFLOW_CHECK(key.front() != ' ' && key.back() != ' ' && key.find("  ") == std::string::npos,
                "PNG text key '" << key << "' must not have leading, trailing or double spaces");
}

// One chunk: length, type, data, CRC-32 of type + data.
void append_chunk(std::vector<uint8_t>& out, const char type[4], const std::vector<uint8_t>& data) {
    RFLOW_CHECK(data.size() < (size_t(1) << 31), "PNG chunk too large (" << data.size() << " bytes)");
    put_be32(out, static_cast<uint32_t>(data.size()));
    const size_t type_at = out.size();
    out.insert(out.end(), type, type + 4);
    out.insert(out.end(), data.begin(), data.end());
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), out.data() + type_at, static_cast<uInt>(4 + data.size()));
    put_be32(out, static_cast<uint32_t>(crc));
}

std::string latin1_to_utf8(const uint8_t* p, size_t n) {
    std::string s;
    s.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        if (p[i] < 0x80) {
            s.push_back(static_cast<char>(p[i]));
        } else {
            s.push_back(static_cast<char>(0xc0 | (p[i] >> 6)));
            s.push_back(static_cast<char>(0x80 | (p[i] & 0x3f)));
        }
    }
    return s;
}

// zlib-inflates a compressed text (zTXt, compressed iTXt); capped at 64 MiB.
std::string inflate_text(const uint8_t* p, size_t n, const std::string& path, const std::string& key) {
    z_stream zs{};
    RFLOW_CHECK(inflateInit(&zs) == Z_OK, "read_png_text: zlib inflateInit failed for '" << path << "'");
    zs.next_in = const_cast<Bytef*>(p);
    zs.avail_in = static_cast<uInt>(n);
    std::string out;
    char buf[16384];
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
        if (out.size() > (size_t(64) << 20)) rc = Z_MEM_ERROR;
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
    }
    inflateEnd(&zs);
    RFLOW_CHECK(rc == Z_STREAM_END, "PNG file '" << path << "': compressed text '" << key << "' is corrupt");
    return out;
}

#ifdef RFLOW_HAVE_OPENCV

uint8_t to_byte(float v) {
    if (!(v == v)) return 0;  // NaN
    const float x = std::floor((v + 1.f) * 127.5f + 0.5f);
    return static_cast<uint8_t>(std::min(255.f, std::max(0.f, x)));
}

// Encodes an 8-bit grey or BGR image and adds the text chunks; `who` names the caller in errors.
std::vector<uint8_t> encode_png_mat(const std::string& who, const cv::Mat& img, const PngText& text) {
    std::vector<uchar> buf;
    RFLOW_CHECK(cv::imencode(".png", img, buf), who << ": could not encode PNG");
    std::vector<uint8_t> png(buf.begin(), buf.end());
    if (!text.empty()) png = png_add_text(png, text);
    return png;
}

// Copies image i of a contiguous [N, C, H, W] buffer into img at (x0, y0), upscaled by `scale`.
void blit(cv::Mat& img, const float* src, int64_t c, int64_t h, int64_t w, int x0, int y0, int scale) {
    const int64_t plane = h * w;
    for (int64_t y = 0; y < h; ++y) {
        for (int sy = 0; sy < scale; ++sy) {
            uint8_t* row = img.ptr<uint8_t>(static_cast<int>(y0 + y * scale + sy)) + x0 * c;
            for (int64_t x = 0; x < w; ++x) {
                uint8_t px[3];
                // RGB tensor -> BGR Mat.
                for (int64_t k = 0; k < c; ++k) px[c == 3 ? 2 - k : k] = to_byte(src[k * plane + y * w + x]);
                for (int sx = 0; sx < scale; ++sx)
                    std::memcpy(row + (x * scale + sx) * c, px, static_cast<size_t>(c));
            }
        }
    }
}

#endif

}  // namespace

std::vector<uint8_t> png_add_text(const std::vector<uint8_t>& png, const PngText& text) {
    RFLOW_CHECK(png.size() >= 33 && std::memcmp(png.data(), kPngSig, 8) == 0 && std::memcmp(png.data() + 12, "IHDR", 4) == 0 &&
                    be32(png.data() + 8) == 13,
                "png_add_text: the buffer is not a PNG starting with an IHDR chunk");
    std::vector<uint8_t> chunks;
    for (const auto& [key, value] : text) {
        check_keyword(key);
        RFLOW_CHECK(value.find('\0') == std::string::npos, "PNG text value of '" << key << "' contains a NUL byte");
        std::vector<uint8_t> data(key.begin(), key.end());
        data.push_back(0);
        if (is_ascii(value)) {
            data.insert(data.end(), value.begin(), value.end());
            append_chunk(chunks, "tEXt", data);
        } else {  // UTF-8: iTXt, uncompressed, empty language tag and translated keyword
            data.insert(data.end(), {0, 0, 0, 0});
            data.insert(data.end(), value.begin(), value.end());
            append_chunk(chunks, "iTXt", data);
        }
    }
    std::vector<uint8_t> out;
    out.reserve(png.size() + chunks.size());
    out.insert(out.end(), png.begin(), png.begin() + 33);  // signature + IHDR
    out.insert(out.end(), chunks.begin(), chunks.end());
    out.insert(out.end(), png.begin() + 33, png.end());
    return out;
}

PngText read_png_text(const std::string& path) {
    const std::vector<uint8_t> f = read_file(path);
    RFLOW_CHECK(f.size() >= 8 && std::memcmp(f.data(), kPngSig, 8) == 0,
                "'" << path << "' is not a PNG file (no PNG signature)");
    PngText out;
    size_t at = 8;
    bool ended = false;
    while (at < f.size() && !ended) {
        RFLOW_CHECK(f.size() - at >= 12, "PNG file '" << path << "' is truncated inside a chunk header at byte " << at);
        const uint32_t len = be32(&f[at]);
        const std::string type(reinterpret_cast<const char*>(&f[at + 4]), 4);
        RFLOW_CHECK(len < (uint32_t(1) << 31) && f.size() - at - 12 >= len,
                    "PNG file '" << path << "' is truncated: chunk '" << type << "' at byte " << at << " needs " << len
                                 << " bytes of data");
        const uint8_t* data = &f[at + 8];
        const uLong crc = crc32(crc32(0L, Z_NULL, 0), &f[at + 4], len + 4);
        RFLOW_CHECK(crc == be32(data + len), "PNG file '" << path << "': bad CRC in chunk '" << type << "' at byte " << at);
        if (type == "tEXt" || type == "zTXt" || type == "iTXt") {
            const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, len));
            RFLOW_CHECK(nul, "PNG file '" << path << "': chunk '" << type << "' at byte " << at << " has no keyword end");
            const std::string key = latin1_to_utf8(data, static_cast<size_t>(nul - data));
            const uint8_t* rest = nul + 1;
            const size_t rest_n = len - static_cast<size_t>(rest - data);
            if (type == "tEXt") {
                out.emplace_back(key, latin1_to_utf8(rest, rest_n));
            } else if (type == "zTXt") {
                RFLOW_CHECK(rest_n >= 1 && rest[0] == 0, "PNG file '" << path << "': zTXt '" << key << "' has an unknown compression method");
                const std::string t = inflate_text(rest + 1, rest_n - 1, path, key);
                out.emplace_back(key, latin1_to_utf8(reinterpret_cast<const uint8_t*>(t.data()), t.size()));
            } else {  // iTXt: flag, method, language\0, translated keyword\0, UTF-8 text
                RFLOW_CHECK(rest_n >= 2, "PNG file '" << path << "': iTXt '" << key << "' is too short");
                const bool compressed = rest[0] != 0;
                const uint8_t* p = rest + 2;
                const uint8_t* end = rest + rest_n;
                for (int skip = 0; skip < 2; ++skip) {
                    const uint8_t* z = static_cast<const uint8_t*>(std::memchr(p, 0, static_cast<size_t>(end - p)));
                    RFLOW_CHECK(z, "PNG file '" << path << "': iTXt '" << key << "' is malformed");
                    p = z + 1;
                }
                const size_t n = static_cast<size_t>(end - p);
                out.emplace_back(key, compressed ? inflate_text(p, n, path, key)
                                                 : std::string(reinterpret_cast<const char*>(p), n));
            }
        }
        ended = type == "IEND";
        at += 12 + static_cast<size_t>(len);
    }
    RFLOW_CHECK(ended, "PNG file '" << path << "' is truncated: no IEND chunk");
    return out;
}

#ifdef RFLOW_HAVE_OPENCV

namespace {

// The grid of write_image_grid_png as PNG bytes; `who` names the caller (and file) in errors.
std::vector<uint8_t> encode_grid(const std::string& who, const Tensor& images, int columns, int padding, int scale,
                                 const PngText& text) {
    RFLOW_CHECK(images.defined() && images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3),
                who << ": images must be [N, C, H, W] with C = 1 or 3, got "
                    << (images.defined() ? shape_str(images.shape()) : "undefined"));
    const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
    RFLOW_CHECK(n > 0 && h > 0 && w > 0, who << ": no pixels in " << shape_str(images.shape()));
    RFLOW_CHECK(padding >= 0 && scale >= 1 && columns >= 0,
                who << ": need columns >= 0, padding >= 0, scale >= 1; got " << columns << ", " << padding << ", "
                    << scale);
    int64_t cols = 1;  // ceil(sqrt(n)) unless given
    if (columns > 0) cols = std::min<int64_t>(columns, n);
    else
        while (cols * cols < n) ++cols;
    const int64_t rows = (n + cols - 1) / cols;
    const int64_t tile_h = h * scale, tile_w = w * scale;
    const int64_t height = rows * (tile_h + padding) + padding, width = cols * (tile_w + padding) + padding;
    RFLOW_CHECK(height <= kMaxSide && width <= kMaxSide,
                who << ": the grid would be " << width << " x " << height << " pixels, over the limit of " << kMaxSide);
    const Tensor src = images.detach().to(Device::cpu).contiguous();
    cv::Mat img(static_cast<int>(height), static_cast<int>(width), c == 3 ? CV_8UC3 : CV_8UC1, cv::Scalar::all(255));
    const float* base = src.data();
    for (int64_t i = 0; i < n; ++i) {
        const int x0 = static_cast<int>(padding + (i % cols) * (tile_w + padding));
        const int y0 = static_cast<int>(padding + (i / cols) * (tile_h + padding));
        blit(img, base + i * c * h * w, c, h, w, x0, y0, scale);
    }
    return encode_png_mat(who, img, text);
}

}  // namespace

std::vector<uint8_t> encode_image_grid_png(const Tensor& images, int columns, int padding, int scale,
                                           const PngText& text) {
    return encode_grid("encode_image_grid_png", images, columns, padding, scale, text);
}

void write_image_grid_png(const std::string& path, const Tensor& images, int columns, int padding, int scale,
                          const PngText& text) {
    const std::vector<uint8_t> png =
        encode_grid("write_image_grid_png('" + path + "')", images, columns, padding, scale, text);
    write_file_atomic(path, png.data(), png.size());
}

void write_image_png(const std::string& path, const Tensor& image, const PngText& text) {
    RFLOW_CHECK(image.defined() && image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3),
                "write_image_png('" << path << "'): image must be [C, H, W] with C = 1 or 3, got "
                                    << (image.defined() ? shape_str(image.shape()) : "undefined"));
    write_image_grid_png(path, image.unsqueeze(0), 1, 0, 1, text);
}

namespace detail {

namespace {

// Width and height from a PNG or JPEG header; false for other formats or a header cut short.
bool header_size(const std::vector<uint8_t>& b, uint64_t& width, uint64_t& height) {
    if (b.size() >= 24 && std::memcmp(b.data(), kPngSig, 8) == 0 && std::memcmp(b.data() + 12, "IHDR", 4) == 0) {
        width = be32(b.data() + 16);
        height = be32(b.data() + 20);
        return true;
    }
    if (b.size() >= 4 && b[0] == 0xff && b[1] == 0xd8) {  // JPEG: walk the segments to a start-of-frame
        size_t i = 2;
        while (i + 9 <= b.size() && b[i] == 0xff) {
            const uint8_t marker = b[i + 1];
            const size_t len = (size_t(b[i + 2]) << 8) | b[i + 3];
            const bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
            if (sof) {
                height = (uint64_t(b[i + 5]) << 8) | b[i + 6];
                width = (uint64_t(b[i + 7]) << 8) | b[i + 8];
                return true;
            }
            if (len < 2) return false;
            i += 2 + len;
        }
    }
    return false;
}

// Refuses images too large to decode safely, from the header's size, before any pixel is decoded;
// formats whose header is not read here are held to the same limits inside OpenCV.
void check_image_size(const std::vector<uint8_t>& bytes, const std::string& path) {
    static std::once_flag limits_set;
    std::call_once(limits_set, [] {
        // read by OpenCV when it first decodes; a limit the user set in the environment wins
        ::setenv("OPENCV_IO_MAX_IMAGE_WIDTH", std::to_string(kMaxDecodeSide).c_str(), 0);
        ::setenv("OPENCV_IO_MAX_IMAGE_HEIGHT", std::to_string(kMaxDecodeSide).c_str(), 0);
        ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(kMaxDecodePixels).c_str(), 0);
    });
    uint64_t w = 0, h = 0;
    if (!header_size(bytes, w, h)) return;
    RFLOW_CHECK(w <= static_cast<uint64_t>(kMaxDecodeSide) && h <= static_cast<uint64_t>(kMaxDecodeSide) &&
                    w * h <= static_cast<uint64_t>(kMaxDecodePixels),
                "cannot decode image '" << path << "': it is " << w << " x " << h << " pixels (at most " << kMaxDecodeSide
                                        << " per side and " << kMaxDecodePixels << " in all)");
}

}  // namespace

cv::Mat decode_image_file(const std::string& path, int channels) {
    // Read through read_file (retried on transient errors), then decode from memory.
    std::vector<uint8_t> bytes = read_file(path);
    check_image_size(bytes, path);
    cv::Mat img;
    try {
        if (!bytes.empty())
            img = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, bytes.data()),
                               channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
        RFLOW_FAIL("cannot decode image '" << path << "': " << e.what());
    }
    RFLOW_CHECK(!img.empty() && img.depth() == CV_8U && img.channels() == channels,
                "cannot decode image '" << path << "' (unsupported format or corrupt file)");
    return img;
}

}  // namespace detail

Tensor read_image(const std::string& path, int channels) {
    RFLOW_CHECK(channels == 1 || channels == 3, "read_image('" << path << "'): channels must be 1 or 3, got " << channels);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        const int err = errno;
        RFLOW_FAIL("cannot read image '" << path << "': " << std::strerror(err));
    }
    const cv::Mat img = detail::decode_image_file(path, channels);
    const int64_t h = img.rows, w = img.cols;
    Tensor out = Tensor::empty({channels, h, w});
    float* dst = out.data();
    for (int64_t y = 0; y < h; ++y) {
        const uint8_t* row = img.ptr<uint8_t>(static_cast<int>(y));
        for (int64_t x = 0; x < w; ++x)
            for (int k = 0; k < channels; ++k)  // BGR -> RGB
                dst[(k * h + y) * w + x] = row[x * channels + (channels == 3 ? 2 - k : k)] / 127.5f - 1.f;
    }
    return out;
}

#else

namespace {
[[noreturn]] void no_opencv(const std::string& path) {
    RFLOW_FAIL("cannot handle image '" << path << "': this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
}
}  // namespace

std::vector<uint8_t> encode_image_grid_png(const Tensor&, int, int, int, const PngText&) {
    RFLOW_FAIL("cannot encode a PNG: this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
}
void write_image_grid_png(const std::string& path, const Tensor&, int, int, int, const PngText&) { no_opencv(path); }
void write_image_png(const std::string& path, const Tensor&, const PngText&) { no_opencv(path); }
Tensor read_image(const std::string& path, int) { no_opencv(path); }

#endif

}  // namespace rflow::io
