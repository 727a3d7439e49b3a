// Helpers shared by the image-data and PNG tests: scratch directories, error messages, IDX and
// gzip files written byte by byte, and byte <-> [-1, 1] pixel conversions.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

#include <zlib.h>

#include <rflow/error.hpp>
#include <rflow/tensor.hpp>

namespace rflow::testing {

namespace fs = std::filesystem;

inline fs::path temp_dir(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("rflow_test_images_" + std::to_string(getpid())) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// The message of the rflow::Error that f throws ("" when it throws nothing).
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

inline std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> out;
    auto be = [&](uint32_t v) {
        for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
    };
    be(magic);
    for (uint32_t d : dims) be(d);
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

inline void write_plain(const fs::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_gz(const fs::path& p, const std::vector<uint8_t>& bytes) {
    gzFile f = gzopen(p.string().c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == int(bytes.size()));
    REQUIRE(gzclose(f) == Z_OK);
}

inline std::vector<uint8_t> read_bytes(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline float from_byte(int b) { return static_cast<float>(b) / 127.5f - 1.f; }
inline int to_byte(float v) { return static_cast<int>(std::lround((v + 1.0) * 127.5)); }

// An image [C, H, W] of given bytes per channel (solid colour) as [-1, 1] floats.
inline Tensor solid(int64_t c, int64_t h, int64_t w, const std::vector<int>& bytes) {
    std::vector<float> v(static_cast<size_t>(c * h * w));
    for (int64_t k = 0; k < c; ++k)
        for (int64_t i = 0; i < h * w; ++i) v[k * h * w + i] = from_byte(bytes[k]);
    return Tensor::from_vector(v, {c, h, w});
}


}  // namespace rflow::testing
