// PNG output: image grids (size, layout, pixel mapping) with embedded text, and text chunks
// written by other tools (zTXt, compressed iTXt).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include <rflow/data/idx.hpp>
#include <rflow/data/image_batches.hpp>
#include <rflow/data/image_folder.hpp>
#include <rflow/error.hpp>
#include <rflow/io/image.hpp>
#include <rflow/io/plot.hpp>
#include <rflow/philox.hpp>

#include "image_test_util.hpp"

using namespace rflow;
using namespace rflow::testing;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- PNG files

TEST_CASE("grid PNGs: size, layout, pixel mapping and embedded text") {
    if (!io::png_supported()) {
        MESSAGE("skipped: built without OpenCV");
        return;
    }
    const fs::path dir = temp_dir("grid");
    // 5 RGB images 2 x 3 with exact byte values.
    const int64_t n = 5, c = 3, h = 2, w = 3;
    std::vector<int> bytes(static_cast<size_t>(n * c * h * w));
    Generator g(5);
    std::vector<int64_t> r(bytes.size());
    g.randint(r.data(), static_cast<int64_t>(r.size()), 0, 256);
    std::vector<float> v(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<int>(r[i]);
        v[i] = from_byte(bytes[i]);
    }
    const io::PngText text = {{"model", "fmnist.safetensors"}, {"seed", "7"}, {"solver", "rk4"},
                              {"steps", "20"},                 {"guidance", "1.5"}, {"note", "caf\xc3\xa9 \xe2\x9c\x93"}};
    const std::string path = (dir / "grid.png").string();
    io::write_image_grid_png(path, Tensor::from_vector(v, {n, c, h, w}), 0, 1, 2, text);
    // 3 columns (ceil sqrt 5), 2 rows, tiles 4 x 6, padding 1.
    const Tensor img = io::read_image(path, 3);
    REQUIRE(img.shape() == Shape{3, 2 * (4 + 1) + 1, 3 * (6 + 1) + 1});
    const int64_t gh = img.size(1), gw = img.size(2);
    const std::vector<float> px = img.to_vector();
    std::vector<int> owner(static_cast<size_t>(gh * gw), -1);  // which image covers each pixel
    for (int64_t i = 0; i < n; ++i) {
        const int64_t y0 = 1 + (i / 3) * 5, x0 = 1 + (i % 3) * 7;
        for (int64_t y = 0; y < 4; ++y)
            for (int64_t x = 0; x < 6; ++x) {
                owner[(y0 + y) * gw + x0 + x] = static_cast<int>(i);
                for (int64_t k = 0; k < c; ++k)
                    REQUIRE(px[(k * gh + y0 + y) * gw + x0 + x] == from_byte(bytes[((i * c + k) * h + y / 2) * w + x / 2]));
            }
    }
    for (int64_t p = 0; p < gh * gw; ++p)  // padding and the empty sixth cell are white
        if (owner[p] < 0)
            for (int64_t k = 0; k < c; ++k) REQUIRE(px[k * gh * gw + p] == 1.f);
    CHECK(io::read_png_text(path) == text);
    const std::vector<uint8_t> file = read_bytes(path);
    CHECK(std::string(file.begin() + 12, file.begin() + 16) == "IHDR");
    CHECK(std::string(file.begin() + 37, file.begin() + 41) == "tEXt");  // right after IHDR
    CHECK(int(file[25]) == 2);                                           // RGB colour type

    // [-1, 1] -> [0, 255]: ends, middle, rounding, clamping, NaN; a grey grid of given columns.
    const std::vector<float> vals = {-1.f, 1.f, 0.f, -2.f, 2.f, std::numeric_limits<float>::quiet_NaN(), 0.5f, -0.5f};
    const std::vector<int> expect = {0, 255, 128, 0, 255, 0, 191, 64};
    const std::string grey = (dir / "grey.png").string();
    io::write_image_grid_png(grey, Tensor::from_vector(vals, {8, 1, 1, 1}), 4, 0);
    CHECK(read_bytes(grey)[25] == 0);  // grey colour type
    const Tensor gi = io::read_image(grey, 1);
    REQUIRE(gi.shape() == Shape{1, 2, 4});
    const std::vector<float> gv = gi.to_vector();
    for (size_t i = 0; i < vals.size(); ++i) CHECK(to_byte(gv[i]) == expect[i]);
    CHECK(io::read_png_text(grey).empty());

    // Channel order checked without OpenCV: a 1 x 1 RGB PNG's inflated IDAT is {filter, R, G, B}
    // (any PNG filter leaves the first pixel of the first row unchanged).
    const std::string red = (dir / "red.png").string();
    io::write_image_png(red, solid(3, 1, 1, {255, 0, 128}));
    const std::vector<uint8_t> rf = read_bytes(red);
    std::vector<uint8_t> idat;
    for (size_t at = 8; at + 12 <= rf.size();) {
        const size_t len = (size_t(rf[at]) << 24) | (size_t(rf[at + 1]) << 16) | (size_t(rf[at + 2]) << 8) | rf[at + 3];
        if (std::string(rf.begin() + at + 4, rf.begin() + at + 8) == "IDAT")
            idat.insert(idat.end(), rf.begin() + at + 8, rf.begin() + at + 8 + len);
        at += 12 + len;
    }
    uLongf raw_n = 16;
    std::vector<uint8_t> raw(raw_n);
    REQUIRE(uncompress(raw.data(), &raw_n, idat.data(), static_cast<uLong>(idat.size())) == Z_OK);
    REQUIRE(raw_n == 4);
    CHECK(std::vector<int>(raw.begin() + 1, raw.begin() + 4) == std::vector<int>{255, 0, 128});
    fs::remove(red);

    // A single image round trips exactly; nothing but the two files is left behind.
    const Tensor one = Tensor::from_vector(std::vector<float>(v.begin(), v.begin() + c * h * w), {c, h, w});
    const std::string single = (dir / "one.png").string();
    io::write_image_png(single, one, {{"seed", "3"}});
    CHECK(io::read_image(single, 3).to_vector() == one.to_vector());
    CHECK(io::read_png_text(single) == io::PngText{{"seed", "3"}});
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        CHECK(e.path().extension() == ".png");
        ++files;
    }
    CHECK(files == 3);

    // Errors name the file or the bad key.
    CHECK(contains(error_of([&] { io::write_image_grid_png(grey, Tensor::zeros({2, 2, 3, 3})); }), grey));
    CHECK(contains(error_of([&] { io::write_image_png(single, one, {{"", "x"}}); }), "key"));
    CHECK(contains(error_of([&] { io::write_image_png(single, one, {{" seed", "x"}}); }), "key"));
    CHECK(io::read_png_text(single) == io::PngText{{"seed", "3"}});  // failed writes left it alone
    const std::string missing = (dir / "missing.png").string();
    CHECK(contains(error_of([&] { io::read_image(missing); }), missing));
    CHECK(contains(error_of([&] { io::read_png_text(missing); }), missing));
    const fs::path notpng = dir / "not.png";
    std::ofstream(notpng) << "hello";
    CHECK(contains(error_of([&] { io::read_png_text(notpng.string()); }), notpng.string()));
    CHECK(contains(error_of([&] { io::read_image(notpng.string()); }), notpng.string()));
    std::vector<uint8_t> bad = read_bytes(single);
    bad[45] ^= 0x20;  // inside the tEXt chunk
    const fs::path corrupt = dir / "corrupt.png";
    write_plain(corrupt, bad);
    const std::string e = error_of([&] { io::read_png_text(corrupt.string()); });
    CHECK(contains(e, corrupt.string()));
    CHECK(contains(e, "CRC"));
    bad = read_bytes(single);
    bad.resize(bad.size() - 20);
    write_plain(corrupt, bad);
    CHECK(contains(error_of([&] { io::read_png_text(corrupt.string()); }), "truncated"));
}

TEST_CASE("png_add_text and read_png_text handle zTXt and compressed iTXt written elsewhere") {
    if (!io::png_supported()) {
        MESSAGE("skipped: built without OpenCV");
        return;
    }
    const fs::path dir = temp_dir("ztxt");
    const std::string path = (dir / "a.png").string();
    io::write_image_png(path, solid(1, 1, 1, {0}));
    std::vector<uint8_t> png = read_bytes(path);
    // Build zTXt and compressed iTXt chunks by hand and insert them before IEND.
    auto chunk = [](const std::string& type, const std::vector<uint8_t>& data) {
        std::vector<uint8_t> out(12 + data.size());
        for (int i = 0; i < 4; ++i) {
            out[i] = uint8_t(data.size() >> (24 - 8 * i));
            out[4 + i] = uint8_t(type[i]);
        }
        std::copy(data.begin(), data.end(), out.begin() + 8);
        const uLong crc = crc32(crc32(0L, Z_NULL, 0), out.data() + 4, static_cast<uInt>(4 + data.size()));
        for (int i = 0; i < 4; ++i) out[8 + data.size() + i] = uint8_t(crc >> (24 - 8 * i));
        return out;
    };
    auto deflate_text = [](const std::string& s) {
        uLongf n = compressBound(static_cast<uLong>(s.size()));
        std::vector<uint8_t> out(n);
        REQUIRE(compress(out.data(), &n, reinterpret_cast<const Bytef*>(s.data()), static_cast<uLong>(s.size())) == Z_OK);
        out.resize(n);
        return out;
    };
    std::vector<uint8_t> z = {'C', 'o', 'm', 'm', 'e', 'n', 't', 0, 0};
    const std::vector<uint8_t> zc = deflate_text("latin \xe9 text");
    z.insert(z.end(), zc.begin(), zc.end());
    std::vector<uint8_t> it = {'T', 'i', 't', 'l', 'e', 0, 1, 0, 'e', 'n', 0, 0};
    const std::vector<uint8_t> ic = deflate_text("\xe2\x9c\x93 ok");
    it.insert(it.end(), ic.begin(), ic.end());
    std::vector<uint8_t> extra = chunk("zTXt", z), extra2 = chunk("iTXt", it);
    extra.insert(extra.end(), extra2.begin(), extra2.end());
    png.insert(png.end() - 12, extra.begin(), extra.end());
    png = io::png_add_text(png, {{"first", "1"}});
    write_plain(path, png);
    const io::PngText expect = {{"first", "1"}, {"Comment", "latin \xc3\xa9 text"}, {"Title", "\xe2\x9c\x93 ok"}};
    CHECK(io::read_png_text(path) == expect);
    CHECK(io::read_image(path, 1).shape() == Shape{1, 1, 1});
    CHECK_THROWS_AS(io::png_add_text({1, 2, 3}, {}), Error);
}
