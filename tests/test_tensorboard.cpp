// TensorBoard event files: CRC-32C known answers, scalars/images/text written and read back with the
// protobuf fields decoded here by a separate small parser, truncated and corrupted files refused
// with the file named, a failed write cut back to the last whole record. With
// RFLOW_TENSORBOARD_CHECK_DIR set, one case writes the file that tests/tensorboard_check.py loads.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <rflow/error.hpp>
#include <rflow/io/crc32c.hpp>
#include <rflow/io/fault_injection.hpp>
#include <rflow/io/image.hpp>
#include <rflow/io/plot.hpp>
#include <rflow/io/tensorboard.hpp>
#include <rflow/philox.hpp>

#include "image_test_util.hpp"
#include "temp_dir.hpp"

using namespace rflow;
using namespace rflow::testing;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- a protobuf reader for the tests

struct Field {
    uint32_t number = 0;
    int wire = 0;
    uint64_t num = 0;   // varint, fixed64 or fixed32 payload
    std::string bytes;  // length-delimited payload
};

uint64_t varint(const std::string& m, size_t& at) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        REQUIRE(at < m.size());
        const auto b = static_cast<uint8_t>(m[at++]);
        v |= uint64_t(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    FAIL("varint longer than 10 bytes");
    return 0;
}

uint64_t fixed(const std::string& m, size_t& at, int bytes) {
    REQUIRE(m.size() - at >= static_cast<size_t>(bytes));
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<uint8_t>(m[at++])) << (8 * i);
    return v;
}

std::vector<Field> parse(const std::string& m) {
    std::vector<Field> out;
    size_t at = 0;
    while (at < m.size()) {
        Field f;
        const uint64_t key = varint(m, at);
        f.number = static_cast<uint32_t>(key >> 3);
        f.wire = static_cast<int>(key & 7);
        if (f.wire == 0) f.num = varint(m, at);
        else if (f.wire == 1) f.num = fixed(m, at, 8);
        else if (f.wire == 5) f.num = fixed(m, at, 4);
        else {
            REQUIRE(f.wire == 2);
            const uint64_t n = varint(m, at);
            REQUIRE(n <= m.size() - at);
            f.bytes = m.substr(at, n);
            at += n;
        }
        out.push_back(f);
    }
    return out;
}

// The one field `number` of a message, of wire type `wire`.
Field one(const std::vector<Field>& fields, uint32_t number, int wire) {
    const Field* hit = nullptr;
    for (const Field& f : fields)
        if (f.number == number) {
            REQUIRE_MESSAGE(!hit, "field " << number << " appears twice");
            hit = &f;
        }
    REQUIRE_MESSAGE(hit, "field " << number << " missing");
    REQUIRE(hit->wire == wire);
    return *hit;
}

bool has(const std::vector<Field>& fields, uint32_t number) {
    for (const Field& f : fields)
        if (f.number == number) return true;
    return false;
}

double as_double(const Field& f) {
    double d;
    std::memcpy(&d, &f.num, 8);
    return d;
}

float as_float(const Field& f) {
    const auto bits = static_cast<uint32_t>(f.num);
    float x;
    std::memcpy(&x, &bits, 4);
    return x;
}

// An Event with one summary value: its wall time, step and the Summary.Value's fields.
struct SummaryEvent {
    double wall_time = 0;
    int64_t step = 0;
    std::string tag;
    std::vector<Field> value;
};

SummaryEvent summary_event(const std::string& record) {
    const std::vector<Field> event = parse(record);
    SummaryEvent e;
    e.wall_time = as_double(one(event, 1, 1));
    e.step = has(event, 2) ? static_cast<int64_t>(one(event, 2, 0).num) : 0;
    const std::vector<Field> summary = parse(one(event, 5, 2).bytes);
    e.value = parse(one(summary, 1, 2).bytes);
    e.tag = one(e.value, 1, 2).bytes;
    return e;
}

double now() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

const unsigned char kPngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

}  // namespace

// ---------------------------------------------------------------- CRC-32C

TEST_CASE("crc32c: known answers, chaining and the masked form") {
    const char* s = "123456789";
    CHECK(io::crc32c(s, 9) == 0xE3069283u);
    CHECK(io::crc32c(s, 0) == 0u);
    CHECK(io::crc32c(s + 4, 5, io::crc32c(s, 4)) == 0xE3069283u);
    // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xff, and 0, 1, ..., 31.
    std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), inc(32);
    for (int i = 0; i < 32; ++i) inc[i] = static_cast<uint8_t>(i);
    CHECK(io::crc32c(zeros.data(), 32) == 0x8A9136AAu);
    CHECK(io::crc32c(ones.data(), 32) == 0x62A8AB43u);
    CHECK(io::crc32c(inc.data(), 32) == 0x46DD794Eu);
    // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8, mod 2^32
    CHECK(io::masked_crc32c(s, 9) == 0xC78AB0E5u);
    // the length field of the file-version record of every TensorFlow event file (length 24)
    const uint8_t len24[8] = {24, 0, 0, 0, 0, 0, 0, 0};
    const uint32_t c = io::crc32c(len24, 8);
    CHECK(io::masked_crc32c(len24, 8) == ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

// ---------------------------------------------------------------- writing and reading back

TEST_CASE("tensorboard: scalars, text and images round trip with both CRCs and all fields") {
    TempDir tmp;
    const fs::path dir = tmp.path / "runs" / "a";  // created by the writer, parents too
    const double t0 = now();
    std::string path;
    {
        io::TensorBoardWriter w(dir.string());
        path = w.path();
        for (int64_t s = 0; s < 5; ++s) w.add_scalar("loss/train", 1.0 / double(s + 1), s);
        w.add_scalar("lr", -2.5e-4, int64_t{1} << 40);
        w.add_scalar("neg", 3.0, -7);
        w.add_text("settings", "seed 7, *rk4*, caf\xc3\xa9", 3);
        w.flush();
    }
    const double t1 = now();
    const std::string name = fs::path(path).filename().string();
    CHECK(fs::path(path).parent_path() == dir);
    CHECK(name.rfind("events.out.tfevents.", 0) == 0);
    CHECK(name.size() > 6);
    CHECK(name.substr(name.size() - 6) == ".rflow");
    const long long secs = std::stoll(name.substr(20));
    CHECK(secs >= static_cast<long long>(t0) - 1);
    CHECK(secs <= static_cast<long long>(t1));

    // Framing checked here independently of the library's reader.
    const std::vector<uint8_t> bytes = read_bytes(path);
    size_t at = 0, count = 0;
    while (at < bytes.size()) {
        REQUIRE(bytes.size() - at >= 16);
        uint64_t len = 0;
        for (int i = 0; i < 8; ++i) len |= uint64_t(bytes[at + i]) << (8 * i);
        REQUIRE(len <= bytes.size() - at - 16);
        uint32_t lc = 0, dc = 0;
        for (int i = 0; i < 4; ++i) {
            lc |= uint32_t(bytes[at + 8 + i]) << (8 * i);
            dc |= uint32_t(bytes[at + 12 + len + i]) << (8 * i);
        }
        CHECK(lc == io::masked_crc32c(&bytes[at], 8));
        CHECK(dc == io::masked_crc32c(&bytes[at + 12], len));
        at += 16 + len;
        ++count;
    }

    const std::vector<std::string> rec = io::read_tensorboard_events(path);
    REQUIRE(rec.size() == 9);
    CHECK(count == rec.size());
    {  // Event{wall_time, file_version}
        const std::vector<Field> e = parse(rec[0]);
        CHECK(e.size() == 2);
        CHECK(one(e, 3, 2).bytes == "brain.Event:2");
        const double wt = as_double(one(e, 1, 1));
        CHECK(wt >= t0 - 1e-3);
        CHECK(wt <= t1 + 1e-3);
    }
    double last_wall = 0;
    for (int64_t s = 0; s < 5; ++s) {
        const SummaryEvent e = summary_event(rec[1 + s]);
        CHECK(e.tag == "loss/train");
        CHECK(e.step == s);
        CHECK(as_float(one(e.value, 2, 5)) == static_cast<float>(1.0 / double(s + 1)));
        CHECK(e.wall_time >= t0 - 1e-3);
        CHECK(e.wall_time >= last_wall);
        last_wall = e.wall_time;
    }
    {
        const SummaryEvent e = summary_event(rec[6]);
        CHECK(e.tag == "lr");
        CHECK(e.step == int64_t{1} << 40);
        CHECK(as_float(one(e.value, 2, 5)) == -2.5e-4f);
    }
    {
        const SummaryEvent e = summary_event(rec[7]);
        CHECK(e.tag == "neg");
        CHECK(e.step == -7);  // a 10-byte varint
        CHECK(as_float(one(e.value, 2, 5)) == 3.f);
    }
    {  // text: plugin "text", a scalar DT_STRING tensor
        const SummaryEvent e = summary_event(rec[8]);
        CHECK(e.tag == "settings");
        CHECK(e.step == 3);
        const std::vector<Field> meta = parse(one(e.value, 9, 2).bytes);
        CHECK(one(parse(one(meta, 1, 2).bytes), 1, 2).bytes == "text");
        const std::vector<Field> tensor = parse(one(e.value, 8, 2).bytes);
        CHECK(one(tensor, 1, 0).num == 7u);
        CHECK(parse(one(tensor, 2, 2).bytes).empty());
        CHECK(one(tensor, 8, 2).bytes == "seed 7, *rk4*, caf\xc3\xa9");
    }
}

TEST_CASE("tensorboard: images as PNG with height, width and colorspace; grids laid out like PNG grids") {
    if (!io::png_supported()) {
        MESSAGE("skipped: built without OpenCV");
        return;
    }
    TempDir tmp;
    // An RGB image 3 x 5 x 4 and a grey grid of 5 images 1 x 4 x 6, random bytes.
    Generator g(11);
    auto random_image = [&](Shape shape, std::vector<int>& bytes) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        std::vector<int64_t> r(static_cast<size_t>(n));
        g.randint(r.data(), n, 0, 256);
        std::vector<float> v(r.size());
        bytes.assign(r.begin(), r.end());
        for (size_t i = 0; i < r.size(); ++i) v[i] = from_byte(bytes[i]);
        return Tensor::from_vector(v, shape);
    };
    std::vector<int> rgb_bytes, grey_bytes;
    const Tensor rgb = random_image({3, 5, 4}, rgb_bytes);
    const Tensor grey = random_image({5, 1, 4, 6}, grey_bytes);
    std::string path;
    {
        io::TensorBoardWriter w(tmp.path.string());
        path = w.path();
        w.add_image("samples/rgb", rgb, 10);
        w.add_image("samples/grid", grey, 20);
        w.add_image("samples/grid2", grey, 30, 5, 0);
    }
    const std::vector<std::string> rec = io::read_tensorboard_events(path);
    REQUIRE(rec.size() == 4);
    struct Want {
        std::string tag;
        int64_t step, height, width, colorspace;
    };
    // grid: 3 columns (ceil sqrt 5), 2 rows, padding 2: 2 * (4 + 2) + 2 by 3 * (6 + 2) + 2;
    // grid2: 5 columns, no padding: 4 by 5 * 6
    const Want want[3] = {
        {"samples/rgb", 10, 5, 4, 3}, {"samples/grid", 20, 14, 26, 1}, {"samples/grid2", 30, 4, 30, 1}};
    for (int i = 0; i < 3; ++i) {
        CAPTURE(i);
        const SummaryEvent e = summary_event(rec[1 + i]);
        CHECK(e.tag == want[i].tag);
        CHECK(e.step == want[i].step);
        const std::vector<Field> image = parse(one(e.value, 4, 2).bytes);
        CHECK(static_cast<int64_t>(one(image, 1, 0).num) == want[i].height);
        CHECK(static_cast<int64_t>(one(image, 2, 0).num) == want[i].width);
        CHECK(static_cast<int64_t>(one(image, 3, 0).num) == want[i].colorspace);
        const std::string png = one(image, 4, 2).bytes;
        REQUIRE(png.size() > 8);
        CHECK(std::memcmp(png.data(), kPngSig, 8) == 0);
        // The PNG decodes to the pixels written.
        const std::string file = tmp.file("img" + std::to_string(i) + ".png");
        write_plain(file, std::vector<uint8_t>(png.begin(), png.end()));
        const Tensor back = io::read_image(file, static_cast<int>(want[i].colorspace));
        REQUIRE(back.shape() == Shape{want[i].colorspace, want[i].height, want[i].width});
        const std::vector<float> px = back.to_vector();
        if (i == 0) {
            for (size_t k = 0; k < px.size(); ++k) CHECK(to_byte(px[k]) == rgb_bytes[k]);
        } else {  // image 4 (second row, second column) of the grid, and white padding
            const int64_t gw = want[i].width, pad = i == 1 ? 2 : 0, cols = i == 1 ? 3 : 5;
            const int64_t y0 = pad + (4 / cols) * (4 + pad), x0 = pad + (4 % cols) * (6 + pad);
            for (int64_t y = 0; y < 4; ++y)
                for (int64_t x = 0; x < 6; ++x)
                    CHECK(to_byte(px[(y0 + y) * gw + x0 + x]) == grey_bytes[4 * 24 + y * 6 + x]);
            if (pad) CHECK(to_byte(px[0]) == 255);
        }
    }
    // Shapes other than [C, H, W] / [N, C, H, W] with C = 1 or 3 are refused, naming tag and file.
    io::TensorBoardWriter w(tmp.path.string());
    for (const Shape& bad : {Shape{2, 4, 4}, Shape{4, 4}, Shape{1, 4, 4, 4}, Shape{1, 1, 1, 4, 4}}) {
        const std::string msg = error_of([&] { w.add_image("bad", Tensor::zeros(bad), 0); });
        CHECK(contains(msg, "'bad'"));
        CHECK(contains(msg, w.path()));
    }
    CHECK(io::read_tensorboard_events(w.path()).size() == 1);  // nothing written by the refusals
}

TEST_CASE("tensorboard: one new file per writer, never overwritten; the directory error names it") {
    TempDir tmp;
    std::vector<std::string> paths;
    {
        io::TensorBoardWriter a(tmp.path.string()), b(tmp.path.string()), c(tmp.path.string());
        paths = {a.path(), b.path(), c.path()};
        a.add_scalar("x", 1, 1);
        b.add_scalar("x", 2, 1);
        c.add_scalar("x", 3, 1);
    }
    CHECK(paths[0] != paths[1]);
    CHECK(paths[1] != paths[2]);
    CHECK(paths[0] != paths[2]);
    for (size_t i = 0; i < 3; ++i) {
        const std::vector<std::string> rec = io::read_tensorboard_events(paths[i]);
        REQUIRE(rec.size() == 2);
        CHECK(as_float(one(summary_event(rec[1]).value, 2, 5)) == float(i + 1));
    }
    // A regular file where the directory should be.
    write_plain(tmp.path / "file", {1, 2, 3});
    const std::string dir = (tmp.path / "file" / "run").string();
    const std::string msg = error_of([&] { io::TensorBoardWriter w(dir); });
    CHECK(contains(msg, dir));
    // A directory that cannot be written (not checked as root, who may write anyway).
    if (::geteuid() != 0) {
        fs::create_directories(tmp.path / "ro");
        fs::permissions(tmp.path / "ro", fs::perms::owner_read | fs::perms::owner_exec);
        const std::string ro = (tmp.path / "ro").string();
        const std::string m2 = error_of([&] { io::TensorBoardWriter w(ro); });
        CHECK(contains(m2, ro));
        fs::permissions(tmp.path / "ro", fs::perms::owner_all);
    }
}

TEST_CASE("tensorboard: moved writers keep writing to the same file") {
    TempDir tmp;
    io::TensorBoardWriter a(tmp.path.string());
    a.add_scalar("x", 1, 0);
    io::TensorBoardWriter b(std::move(a));
    b.add_scalar("x", 2, 1);
    CHECK(!error_of([&] { a.add_scalar("x", 3, 2); }).empty());
    io::TensorBoardWriter c(tmp.path.string());
    const std::string c_path = c.path();
    c = std::move(b);  // c's own file is closed, intact
    c.add_scalar("x", 4, 3);
    CHECK(io::read_tensorboard_events(c.path()).size() == 4);
    CHECK(io::read_tensorboard_events(c_path).size() == 1);
}

// ---------------------------------------------------------------- failures

TEST_CASE("tensorboard: a failed write throws naming the file and cuts it back to its last whole record") {
    TempDir tmp;
    io::TensorBoardWriter w(tmp.path.string());
    w.add_scalar("x", 1, 0);
    const auto size = fs::file_size(w.path());
    {
        io::testing::ScopedFaults faults(io::testing::FaultSite::write, 1, ENOSPC);
        const std::string msg = error_of([&] { w.add_scalar("x", 2, 1); });
        CHECK(contains(msg, w.path()));
        CHECK(contains(msg, std::strerror(ENOSPC)));
    }
    CHECK(fs::file_size(w.path()) == size);
    CHECK(io::read_tensorboard_events(w.path()).size() == 2);
    w.add_scalar("x", 3, 2);  // and writing goes on
    const std::vector<std::string> rec = io::read_tensorboard_events(w.path());
    REQUIRE(rec.size() == 3);
    CHECK(as_float(one(summary_event(rec[2]).value, 2, 5)) == 3.f);
    // The version record cannot be written: an error naming the file, and no file left behind.
    TempDir other;
    {
        io::testing::ScopedFaults faults(io::testing::FaultSite::write, 1, EIO);
        const std::string msg = error_of([&] { io::TensorBoardWriter x(other.path.string()); });
        CHECK(contains(msg, (other.path / "events.out.tfevents.").string()));
    }
    CHECK(other.names().empty());
}

TEST_CASE("tensorboard reader: every truncation and every flipped byte is an error naming the file") {
    TempDir tmp;
    std::string path;
    {
        io::TensorBoardWriter w(tmp.path.string());
        path = w.path();
        w.add_scalar("loss", 0.5, 1);
        w.add_text("note", "hello", 2);
    }
    const std::vector<uint8_t> good = read_bytes(path);
    std::vector<size_t> ends;  // record boundaries
    for (size_t at = 0; at < good.size();) {
        uint64_t len = 0;
        for (int i = 0; i < 8; ++i) len |= uint64_t(good[at + i]) << (8 * i);
        at += 16 + len;
        ends.push_back(at);
    }
    REQUIRE(ends.size() == 3);
    REQUIRE(ends.back() == good.size());
    const std::string bad = tmp.file("bad.tfevents");
    CHECK(error_of([&] { io::read_tensorboard_events(tmp.file("missing")); }).find("missing") != std::string::npos);
    write_plain(bad, {});
    CHECK(io::read_tensorboard_events(bad).empty());
    for (size_t n = 1; n < good.size(); ++n) {
        CAPTURE(n);
        write_plain(bad, std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
        size_t whole = 0;
        while (whole < ends.size() && ends[whole] <= n) ++whole;
        if (whole > 0 && ends[whole - 1] == n) {
            CHECK(io::read_tensorboard_events(bad).size() == whole);  // a shorter, valid file
        } else {
            const std::string msg = error_of([&] { io::read_tensorboard_events(bad); });
            CHECK(contains(msg, bad));
            CHECK(contains(msg, "truncated"));
        }
    }
    for (size_t i = 0; i < good.size(); ++i) {
        CAPTURE(i);
        std::vector<uint8_t> b = good;
        b[i] ^= static_cast<uint8_t>(1u << (i % 8));
        write_plain(bad, b);
        const std::string msg = error_of([&] { io::read_tensorboard_events(bad); });
        CHECK(contains(msg, bad));
        // length or its CRC (the first 12 bytes of a record) -> bad length CRC; data or its CRC -> bad data CRC
        const bool in_header = i < 12 || (i >= ends[0] && i < ends[0] + 12) || (i >= ends[1] && i < ends[1] + 12);
        CHECK(contains(msg, in_header ? "bad length CRC" : "bad data CRC"));
    }
    // A huge length with a valid length CRC: refused as truncated, nothing allocated for it.
    std::vector<uint8_t> huge(8);
    for (int i = 0; i < 8; ++i) huge[i] = static_cast<uint8_t>((uint64_t{1} << 62) >> (8 * i));
    const uint32_t c = io::masked_crc32c(huge.data(), 8);
    for (int i = 0; i < 4; ++i) huge.push_back(static_cast<uint8_t>(c >> (8 * i)));
    huge.resize(huge.size() + 100, 0);
    write_plain(bad, huge);
    const std::string msg = error_of([&] { io::read_tensorboard_events(bad); });
    CHECK(contains(msg, bad));
    CHECK(contains(msg, "truncated"));
}

// ---------------------------------------------------------------- input for tests/tensorboard_check.py

TEST_CASE("tensorboard: the file tests/tensorboard_check.py loads (only with RFLOW_TENSORBOARD_CHECK_DIR)") {
    const char* dir = std::getenv("RFLOW_TENSORBOARD_CHECK_DIR");
    if (!dir || !*dir) return;
    io::TensorBoardWriter w(dir);
    for (int64_t s = 0; s < 5; ++s) w.add_scalar("loss", 1.0 / double(s + 1), s * 10);
    w.add_scalar("lr", 1e-3, 40);
    w.add_text("settings", "seed 7, solver *rk4*", 0);
    if (io::png_supported()) {
        // a grey ramp 8 x 12, and a 2 x 2 grid of solid RGB tiles 6 x 6 (red, green, blue, white)
        std::vector<float> ramp(8 * 12);
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 12; ++x) ramp[y * 12 + x] = -1.f + 2.f * float(x) / 11.f;
        w.add_image("ramp", Tensor::from_vector(ramp, {1, 8, 12}), 0);
        const std::vector<std::vector<int>> colours = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
        std::vector<Tensor> tiles;
        for (const auto& c : colours) tiles.push_back(solid(3, 6, 6, c).unsqueeze(0));
        std::vector<float> grid;
        for (const Tensor& t : tiles) {
            const std::vector<float> v = t.to_vector();
            grid.insert(grid.end(), v.begin(), v.end());
        }
        w.add_image("samples", Tensor::from_vector(grid, {4, 3, 6, 6}), 40);
    }
    MESSAGE("wrote " << w.path());
}
