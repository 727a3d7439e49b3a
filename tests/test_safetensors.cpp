// Tests for rflow::io safetensors reading/writing and fp16/bf16 conversion. Atomic files and
// checkpoint checks: test_checkpoint_files.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/half.hpp"
#include "rflow/io/safetensors.hpp"

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace rflow::io;

namespace {

using rflow::testing::TempDir;

/// Hand-made safetensors image: 8-byte LE header length, header text as given (no padding), data.
std::vector<uint8_t> make_file(const std::string& header, const std::vector<uint8_t>& data = {}) {
    std::vector<uint8_t> out(8);
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

/// The rflow::Error message of parsing `bytes`, or "<no error>".
std::string parse_error(const std::vector<uint8_t>& bytes) {
    try {
        parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors");
    } catch (const rflow::Error& e) {
        return e.what();
    }
    return "<no error>";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Asserts that parsing fails with a message naming the source and containing every phrase.
void expect_parse_error(const std::vector<uint8_t>& bytes, std::initializer_list<const char*> phrases) {
    const std::string msg = parse_error(bytes);
    INFO("message: " << msg);
    CHECK(contains(msg, "bad.safetensors"));
    for (const char* p : phrases) CHECK_MESSAGE(contains(msg, p), "missing phrase: " << p);
}

std::vector<uint8_t> le_bytes(const void* p, size_t n) {  // host is little-endian (x86/ARM)
    const auto* b = static_cast<const uint8_t*>(p);
    return std::vector<uint8_t>(b, b + n);
}

std::vector<uint8_t> zeros(size_t n) { return std::vector<uint8_t>(n, 0); }

}  // namespace

TEST_CASE("dtype names and sizes") {
    CHECK(std::string(dtype_name(DType::F32)) == "F32");
    CHECK(std::string(dtype_name(DType::F16)) == "F16");
    CHECK(std::string(dtype_name(DType::BF16)) == "BF16");
    CHECK(std::string(dtype_name(DType::F64)) == "F64");
    CHECK(std::string(dtype_name(DType::I64)) == "I64");
    CHECK(std::string(dtype_name(DType::I32)) == "I32");
    CHECK(std::string(dtype_name(DType::U8)) == "U8");
    CHECK(std::string(dtype_name(DType::BOOL)) == "BOOL");
    CHECK(dtype_size(DType::F32) == 4);
    CHECK(dtype_size(DType::F16) == 2);
    CHECK(dtype_size(DType::BF16) == 2);
    CHECK(dtype_size(DType::F64) == 8);
    CHECK(dtype_size(DType::I64) == 8);
    CHECK(dtype_size(DType::I32) == 4);
    CHECK(dtype_size(DType::U8) == 1);
    CHECK(dtype_size(DType::BOOL) == 1);
}

TEST_CASE("fp16 known answers") {
    CHECK(float_to_f16_bits(1.0f) == 0x3C00);
    CHECK(float_to_f16_bits(-2.0f) == 0xC000);
    CHECK(float_to_f16_bits(0.0f) == 0x0000);
    CHECK(float_to_f16_bits(-0.0f) == 0x8000);
    CHECK(float_to_f16_bits(65504.0f) == 0x7BFF);  // largest finite
    CHECK(float_to_f16_bits(65519.0f) == 0x7BFF);  // below the midpoint to 65536
    CHECK(float_to_f16_bits(65520.0f) == 0x7C00);  // tie, 0x7BFF is odd -> rounds up to Inf
    CHECK(float_to_f16_bits(1e6f) == 0x7C00);
    CHECK(float_to_f16_bits(-1e6f) == 0xFC00);
    CHECK(float_to_f16_bits(std::ldexp(1.0f, -14)) == 0x0400);  // smallest normal
    CHECK(float_to_f16_bits(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
    CHECK(float_to_f16_bits(std::ldexp(1023.0f, -24)) == 0x03FF);  // largest subnormal
    CHECK(float_to_f16_bits(std::ldexp(1.0f, -25)) == 0x0000);     // tie -> even (0)
    CHECK(float_to_f16_bits(std::ldexp(1.5f, -25)) == 0x0001);     // above the tie
    CHECK(float_to_f16_bits(std::ldexp(3.0f, -25)) == 0x0002);     // 1.5 units, tie -> even (2)
    CHECK(float_to_f16_bits(std::ldexp(5.0f, -25)) == 0x0002);     // 2.5 units, tie -> even (2)
    CHECK(float_to_f16_bits(std::ldexp(2047.0f, -25)) == 0x0400);  // rounds up into the normals
    CHECK(float_to_f16_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
    CHECK(float_to_f16_bits(-std::numeric_limits<float>::denorm_min()) == 0x8000);
    // Ties in the normal range: 1 + 2^-11 lies halfway between 0x3C00 and 0x3C01.
    CHECK(float_to_f16_bits(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);
    CHECK(float_to_f16_bits(1.0f + std::ldexp(3.0f, -11)) == 0x3C02);
    CHECK(float_to_f16_bits(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)) == 0x3C01);
    CHECK(float_to_f16_bits(std::numeric_limits<float>::infinity()) == 0x7C00);
    CHECK(float_to_f16_bits(-std::numeric_limits<float>::infinity()) == 0xFC00);
    const uint16_t qnan = float_to_f16_bits(std::numeric_limits<float>::quiet_NaN());
    CHECK((qnan & 0x7C00) == 0x7C00);
    CHECK((qnan & 0x03FF) != 0);
    CHECK(std::isnan(f16_bits_to_float(qnan)));
    CHECK(std::isnan(f16_bits_to_float(float_to_f16_bits(-std::numeric_limits<float>::quiet_NaN()))));

    CHECK(f16_bits_to_float(0x3C00) == 1.0f);
    CHECK(f16_bits_to_float(0x7BFF) == 65504.0f);
    CHECK(f16_bits_to_float(0x0001) == std::ldexp(1.0f, -24));
    CHECK(f16_bits_to_float(0x03FF) == std::ldexp(1023.0f, -24));
    CHECK(f16_bits_to_float(0x7C00) == std::numeric_limits<float>::infinity());
    CHECK(f16_bits_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
    CHECK(std::signbit(f16_bits_to_float(0x8000)));

    // Every non-NaN fp16 value survives fp16 -> float -> fp16 exactly.
    int mismatches = 0;
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = f16_bits_to_float(static_cast<uint16_t>(h));
        if (std::isnan(f)) {
            if (!std::isnan(f16_bits_to_float(float_to_f16_bits(f)))) ++mismatches;
        } else if (float_to_f16_bits(f) != h) {
            ++mismatches;
        }
    }
    CHECK(mismatches == 0);
}

TEST_CASE("bf16 known answers") {
    CHECK(float_to_bf16_bits(1.0f) == 0x3F80);
    CHECK(float_to_bf16_bits(-1.0f) == 0xBF80);
    CHECK(float_to_bf16_bits(0.0f) == 0x0000);
    CHECK(float_to_bf16_bits(-0.0f) == 0x8000);
    CHECK(float_to_bf16_bits(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);  // tie -> even
    CHECK(float_to_bf16_bits(1.0f + std::ldexp(3.0f, -8)) == 0x3F82);  // tie -> even
    CHECK(float_to_bf16_bits(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)) == 0x3F81);
    CHECK(float_to_bf16_bits(std::numeric_limits<float>::max()) == 0x7F80);  // rounds to Inf
    CHECK(float_to_bf16_bits(std::numeric_limits<float>::infinity()) == 0x7F80);
    CHECK(float_to_bf16_bits(-std::numeric_limits<float>::infinity()) == 0xFF80);
    CHECK(float_to_bf16_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);  // tie -> even
    CHECK(float_to_bf16_bits(bits_float(0x00018000u)) == 0x0002);  // subnormal tie -> even
    // NaN whose payload lives only in the low 16 bits must stay NaN (not become Inf).
    const uint16_t nan_bits = float_to_bf16_bits(bits_float(0x7F800001u));
    CHECK(std::isnan(bf16_bits_to_float(nan_bits)));
    CHECK(std::isnan(bf16_bits_to_float(float_to_bf16_bits(std::numeric_limits<float>::quiet_NaN()))));
    CHECK(bf16_bits_to_float(0x3F80) == 1.0f);
    CHECK(bf16_bits_to_float(0xC040) == -3.0f);

    int mismatches = 0;
    for (uint32_t b = 0; b < 0x10000; ++b) {
        const float f = bf16_bits_to_float(static_cast<uint16_t>(b));
        if (std::isnan(f)) {
            if (!std::isnan(bf16_bits_to_float(float_to_bf16_bits(f)))) ++mismatches;
        } else if (float_to_bf16_bits(f) != b) {
            ++mismatches;
        }
    }
    CHECK(mismatches == 0);
}

TEST_CASE("round trip F32/F16/BF16 and metadata through a file") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    const std::vector<float> w = {1.0f, -2.5f, 0.125f, 3.0e-5f, 65504.0f, -0.0f};
    const std::vector<float> h = {1.0f, -2.0f, 0.5f, 1024.0f};
    const std::vector<float> b = {1.0f, -3.0f, 256.0f};

    SafetensorsFile f;
    f.metadata = {{"format", "pt"}, {"step", "1234"}, {"note", "h\xC3\xA9llo \"quoted\""}};
    f.tensors.emplace_back("layer.weight", from_f32(w.data(), {2, 3}));
    f.tensors.emplace_back("half", from_f32(h.data(), {4}, DType::F16));
    f.tensors.emplace_back("bf", from_f32(b.data(), {3, 1}, DType::BF16));
    f.tensors.emplace_back("scalar", from_f32(w.data(), {}));
    f.tensors.emplace_back("empty", from_f32(nullptr, {0, 5}));
    write_safetensors(path, f);

    // No temporary files left behind.
    int files = 0;
    for (const auto& entry : fs::directory_iterator(dir.path)) {
        (void)entry;
        ++files;
    }
    CHECK(files == 1);

    const SafetensorsFile g = read_safetensors(path);
    CHECK(g.source == path);
    REQUIRE(g.metadata.size() == 3);
    CHECK(g.metadata == f.metadata);
    REQUIRE(g.tensors.size() == 5);
    for (size_t i = 0; i < f.tensors.size(); ++i) {
        CHECK(g.tensors[i].first == f.tensors[i].first);  // file/insertion order kept
        CHECK(g.tensors[i].second.dtype == f.tensors[i].second.dtype);
        CHECK(g.tensors[i].second.shape == f.tensors[i].second.shape);
        CHECK(g.tensors[i].second.bytes == f.tensors[i].second.bytes);
    }
    const std::vector<float> w2 = to_f32(g.at("layer.weight"));
    REQUIRE(w2.size() == 6);
    for (size_t i = 0; i < 6; ++i) CHECK(std::memcmp(&w2[i], &w[i], 4) == 0);
    CHECK(to_f32(g.at("half")) == h);
    CHECK(to_f32(g.at("bf")) == b);
    CHECK(to_f32(g.at("scalar")) == std::vector<float>{1.0f});
    CHECK(to_f32(g.at("empty")).empty());
    CHECK(g.at("half").dtype == DType::F16);
    CHECK(g.at("half").bytes == std::vector<uint8_t>{0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x00, 0x64});
    CHECK(g.at("bf").bytes == std::vector<uint8_t>{0x80, 0x3F, 0x40, 0xC0, 0x80, 0x43});
    CHECK(g.find("missing") == nullptr);
    CHECK(g.find("bf") == &g.tensors[2].second);

    // Overwriting an existing file works and replaces it.
    SafetensorsFile small;
    small.tensors.emplace_back("x", from_f32(h.data(), {1}));
    write_safetensors(path, small);
    const SafetensorsFile s = read_safetensors(path);
    REQUIRE(s.tensors.size() == 1);
    CHECK(s.metadata.empty());
    CHECK(to_f32(s.at("x")) == std::vector<float>{1.0f});
}

TEST_CASE("exact byte layout of a written file") {
    TempDir dir;
    const std::string path = dir.file("layout.safetensors");
    const float a[2] = {1.0f, 2.0f};
    const float c[1] = {-2.0f};
    SafetensorsFile f;
    f.metadata = {{"format", "pt"}};
    f.tensors.emplace_back("b", from_f32(a, {2}));
    f.tensors.emplace_back("a", from_f32(c, {1, 1}, DType::F16));
    write_safetensors(path, f);
    const std::vector<uint8_t> bytes = read_file(path);
    CHECK(bytes == serialize_safetensors(f));

    REQUIRE(bytes.size() >= 8);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
    CHECK(n % 8 == 0);
    REQUIRE(bytes.size() == 8 + n + 10);
    const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
    const std::string expected =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"a\":{\"dtype\":\"F16\",\"shape\":[1,1],\"data_offsets\":[8,10]}}";
    REQUIRE(header.size() >= expected.size());
    CHECK(header.substr(0, expected.size()) == expected);
    CHECK(header.size() - expected.size() < 8);
    for (size_t i = expected.size(); i < header.size(); ++i) CHECK(header[i] == ' ');
    const std::vector<uint8_t> data(bytes.begin() + 8 + static_cast<long>(n), bytes.end());
    CHECK(data == std::vector<uint8_t>{0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40, 0x00, 0xC0});

    // Without metadata there is no "__metadata__" key; empty file is just "{}" padded.
    SafetensorsFile empty;
    const std::vector<uint8_t> e = serialize_safetensors(empty);
    CHECK(e == std::vector<uint8_t>{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '});
    const SafetensorsFile back = parse_safetensors(e.data(), e.size(), "empty");
    CHECK(back.tensors.empty());
    CHECK(back.metadata.empty());
}

TEST_CASE("malformed (1): file shorter than 8 bytes") {
    expect_parse_error({}, {"too short", "0 bytes"});
    expect_parse_error({1, 2, 3, 4, 5, 6, 7}, {"too short", "7 bytes"});
}

TEST_CASE("malformed (2): header length over 100 MB") {
    std::vector<uint8_t> bytes(8, 0);
    const uint64_t n = 100'000'001;
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(n >> (8 * i));
    expect_parse_error(bytes, {"header length 100000001", "exceeds the limit"});
    expect_parse_error(std::vector<uint8_t>(8, 0xFF), {"exceeds the limit"});
}

TEST_CASE("malformed (3): header past the end of the file") {
    std::vector<uint8_t> bytes = make_file("{}      ");
    bytes[0] = 9;  // claims 9 header bytes, 8 present
    expect_parse_error(bytes, {"header (9 bytes) extends past the end of the file"});
}

TEST_CASE("malformed (4): header not a UTF-8 JSON object, or entries of the wrong shape") {
    expect_parse_error(make_file("{\"a\xFF\":1}"), {"not valid UTF-8"});
    expect_parse_error(make_file("{\"\xC0\xAF\":{}}"), {"not valid UTF-8"});  // overlong '/'
    expect_parse_error(make_file("{\"w\": "), {"not valid JSON"});
    expect_parse_error(make_file(""), {"not valid JSON"});
    expect_parse_error(make_file("[1, 2]"), {"not a JSON object"});
    expect_parse_error(make_file("{\"w\": 3}"), {"tensor 'w'", "not a JSON object"});
    expect_parse_error(make_file("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", zeros(4)),
                       {"tensor 'w'", "\"dtype\""});
    expect_parse_error(make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", zeros(4)),
                       {"tensor 'w'", "\"shape\" must be an array of non-negative integers"});
    expect_parse_error(make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", zeros(4)),
                       {"tensor 'w'", "\"shape\""});
    expect_parse_error(make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", zeros(4)),
                       {"tensor 'w'", "\"data_offsets\" must be [begin, end]"});
    expect_parse_error(make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", zeros(4)),
                       {"tensor 'w'", "begin > end"});
    expect_parse_error(make_file("{\"__metadata__\":{\"a\":1}}"), {"\"__metadata__\" must be an object of strings", "'a'"});
    expect_parse_error(make_file("{\"__metadata__\":[]}"), {"\"__metadata__\" must be an object of strings"});
}

TEST_CASE("malformed (5): duplicate keys") {
    const std::string e = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
    expect_parse_error(make_file("{\"w\":" + e + ",\"w\":" + e + "}", zeros(4)), {"duplicate key 'w'"});
    expect_parse_error(make_file("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                                 zeros(4)),
                       {"duplicate key 'dtype'", "'w'"});
    expect_parse_error(make_file("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), {"duplicate key 'k'"});
}

TEST_CASE("malformed (6): unknown dtype") {
    expect_parse_error(make_file("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", zeros(1)),
                       {"tensor 'w'", "unknown dtype 'F8_E4M3'"});
}

TEST_CASE("malformed (7): shape product overflow") {
    // 2^32 * 2^32 elements overflows int64.
    expect_parse_error(
        make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", zeros(4)),
        {"tensor 'w'", "overflows"});
    // 2^62 elements fit in int64 but 2^62 * 4 bytes do not fit in size_t.
    expect_parse_error(
        make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", zeros(4)),
        {"tensor 'w'", "overflows"});
    // A zero dimension makes the product 0 whatever the others are.
    const std::vector<uint8_t> ok =
        make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,0,4294967296],\"data_offsets\":[0,0]}}");
    CHECK(parse_error(ok) == "<no error>");
}

TEST_CASE("malformed (8): byte size does not match end - begin") {
    expect_parse_error(make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", zeros(4)),
                       {"tensor 'w'", "byte size 8", "does not match data_offsets end - begin = 4"});
}

TEST_CASE("malformed (9): offsets overlap, leave holes, or miss the end of the file") {
    const auto e = [](const char* name, int b, int end) {
        return std::string("\"") + name + "\":{\"dtype\":\"U8\",\"shape\":[" + std::to_string(end - b) +
               "],\"data_offsets\":[" + std::to_string(b) + "," + std::to_string(end) + "]}";
    };
    expect_parse_error(make_file("{" + e("a", 0, 4) + "," + e("b", 2, 6) + "}", zeros(6)),
                       {"tensor 'b'", "overlap tensor 'a'"});
    expect_parse_error(make_file("{" + e("a", 0, 2) + "," + e("b", 4, 6) + "}", zeros(6)),
                       {"tensor 'b'", "hole", "[2, 4)"});
    expect_parse_error(make_file("{" + e("a", 2, 4) + "}", zeros(4)), {"tensor 'a'", "hole", "[0, 2)"});
    expect_parse_error(make_file("{" + e("a", 0, 4) + "}", zeros(6)),
                       {"do not end at the end of the file", "2 trailing bytes"});
    expect_parse_error(make_file("{" + e("a", 0, 8) + "}", zeros(6)), {"tensor 'a'", "past the end of the file"});
    expect_parse_error(make_file("{}", zeros(3)), {"do not end at the end of the file"});

    // Valid: unsorted header order, zero-size tensors at the start, middle and end.
    const std::vector<uint8_t> ok = make_file("{" + e("b", 4, 6) + "," + e("z0", 0, 0) + "," + e("a", 0, 4) +
                                                  "," + e("z1", 4, 4) + "," + e("z2", 6, 6) + "}",
                                              {0, 1, 2, 3, 4, 5});
    const SafetensorsFile f = parse_safetensors(ok.data(), ok.size(), "ok");
    REQUIRE(f.tensors.size() == 5);
    CHECK(f.tensors[0].first == "b");
    CHECK(f.at("b").bytes == std::vector<uint8_t>{4, 5});
    CHECK(f.at("a").bytes == std::vector<uint8_t>{0, 1, 2, 3});
    CHECK(f.at("z1").bytes.empty());
}

TEST_CASE("checks run in the documented order") {
    // Duplicate key and unknown dtype: the duplicate is reported (rule 5 before rule 6).
    const std::string bad = "{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,1]}";
    CHECK(contains(parse_error(make_file("{\"w\":" + bad + ",\"w\":" + bad + "}", zeros(1))), "duplicate key"));
    // Unknown dtype on one tensor and size mismatch on an earlier one: the dtype is reported.
    const std::string mismatch = "{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,1]}";
    CHECK(contains(parse_error(make_file("{\"a\":" + mismatch + ",\"b\":" + bad + "}", zeros(2))),
                   "unknown dtype"));
    // Malformed entry after a duplicate: the structure error (rule 4) wins.
    const std::string msg = parse_error(make_file("{\"w\":1,\"w\":1}"));
    CHECK(contains(msg, "tensor 'w': entry is not a JSON object"));
    CHECK(!contains(msg, "duplicate"));
}

TEST_CASE("reading F64/I64/I32/U8/BOOL converts to float") {
    const double d[3] = {1.5, -2.25, 1e300};
    const int64_t i64[3] = {-7, 0, 1LL << 40};
    const int32_t i32[2] = {-123456, 2147483647};
    const uint8_t u8[3] = {0, 200, 255};
    const uint8_t bl[3] = {0, 1, 1};
    std::vector<uint8_t> data;
    const auto add = [&](const void* p, size_t n) {
        const auto b = le_bytes(p, n);
        data.insert(data.end(), b.begin(), b.end());
    };
    add(d, 24);
    add(i64, 24);
    add(i32, 8);
    add(u8, 3);
    add(bl, 3);
    const std::string header =
        "{\"d\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]},"
        "\"l\":{\"dtype\":\"I64\",\"shape\":[3,1],\"data_offsets\":[24,48]},"
        "\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[48,56]},"
        "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[56,59]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[59,62]}}";
    TempDir dir;
    const std::string path = dir.file("ints.safetensors");
    const std::vector<uint8_t> bytes = make_file(header, data);
    write_file_atomic(path, bytes.data(), bytes.size());
    const SafetensorsFile f = read_safetensors(path);
    CHECK(f.at("d").dtype == DType::F64);
    const std::vector<float> fd = to_f32(f.at("d"));
    REQUIRE(fd.size() == 3);
    CHECK(fd[0] == 1.5f);
    CHECK(fd[1] == -2.25f);
    CHECK(std::isinf(fd[2]));
    CHECK(to_f32(f.at("l")) == std::vector<float>{-7.0f, 0.0f, 1099511627776.0f});
    CHECK(f.at("l").shape == std::vector<int64_t>{3, 1});
    CHECK(to_f32(f.at("i")) == std::vector<float>{-123456.0f, 2147483648.0f});
    CHECK(to_f32(f.at("u")) == std::vector<float>{0.0f, 200.0f, 255.0f});
    CHECK(to_f32(f.at("b")) == std::vector<float>{0.0f, 1.0f, 1.0f});
}

TEST_CASE("lookup, conversion and writer errors") {
    SafetensorsFile f;
    f.source = "weights.safetensors";
    const std::string at_msg = [&] {
        try {
            f.at("nope");
        } catch (const rflow::Error& e) {
            return std::string(e.what());
        }
        return std::string("<no error>");
    }();
    CHECK(contains(at_msg, "'nope'"));
    CHECK(contains(at_msg, "weights.safetensors"));

    const float x[2] = {1.0f, 2.0f};
    CHECK_THROWS_AS(from_f32(x, {2}, DType::I32), rflow::Error);
    CHECK_THROWS_AS(from_f32(x, {-1}), rflow::Error);

    RawTensor bad;
    bad.dtype = DType::F32;
    bad.shape = {3};
    bad.bytes.resize(8);
    CHECK_THROWS_AS(to_f32(bad), rflow::Error);
    f.tensors.emplace_back("bad", bad);
    CHECK_THROWS_AS(serialize_safetensors(f), rflow::Error);

    SafetensorsFile reserved;
    reserved.tensors.emplace_back("__metadata__", from_f32(x, {2}));
    CHECK_THROWS_AS(serialize_safetensors(reserved), rflow::Error);

    TempDir dir;
    const std::string missing = dir.file("does_not_exist.safetensors");
    bool threw = false;
    try {
        read_safetensors(missing);
    } catch (const rflow::Error& e) {
        threw = true;
        CHECK(contains(e.what(), missing));
    }
    CHECK(threw);
}

TEST_CASE("write failures throw and leave no file behind") {
    TempDir dir;
    const float x[2] = {1.0f, 2.0f};
    SafetensorsFile f;
    f.tensors.emplace_back("x", from_f32(x, {2}));

    // Into a directory that does not exist: error names the path, nothing is created.
    const std::string bad_path = dir.file("no_such_dir/model.safetensors");
    bool threw = false;
    try {
        write_safetensors(bad_path, f);
    } catch (const rflow::Error& e) {
        threw = true;
        CHECK(contains(e.what(), bad_path));
        CHECK(contains(e.what(), "No such file or directory"));
    }
    CHECK(threw);
    CHECK(!fs::exists(dir.path / "no_such_dir"));

    // Duplicate names: serialisation throws and the existing file is untouched.
    const std::string path = dir.file("keep.safetensors");
    write_safetensors(path, f);
    const std::vector<uint8_t> before = read_file(path);
    SafetensorsFile dup = f;
    dup.tensors.emplace_back("x", from_f32(x, {1}));
    threw = false;
    try {
        write_safetensors(path, dup);
    } catch (const rflow::Error& e) {
        threw = true;
        CHECK(contains(e.what(), "duplicate tensor name 'x'"));
    }
    CHECK(threw);
    CHECK(read_file(path) == before);

    // Renaming over a directory fails: the directory stays and no temp file is left.
    const std::string dir_target = dir.file("a_directory");
    fs::create_directory(dir_target);
    CHECK_THROWS_AS(write_safetensors(dir_target, f), rflow::Error);
    CHECK(fs::is_directory(dir_target));
    int files = 0;
    for (const auto& entry : fs::directory_iterator(dir.path)) {
        (void)entry;
        ++files;
    }
    CHECK(files == 2);  // keep.safetensors and a_directory
}

namespace {

/// The rflow::Error message of running f, or "<no error>".
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const rflow::Error& e) {
        return e.what();
    }
    return "<no error>";
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

TEST_CASE("json_depth counts nesting without recursion; strings do not count") {
    CHECK(json_depth("1") == 0);
    CHECK(json_depth("{\"a\": [1, {\"b\": 2}]}") == 3);
    CHECK(json_depth("[\"[[[[\", \"\\\"[[\"]") == 1);
    CHECK(json_depth(nested(64)) == 64);
    CHECK(json_depth(nested(1000000)) == kMaxJsonDepth + 1);  // stops counting past the limit
    CHECK_NOTHROW(check_json_depth(nested(64), "f.json", "config"));
    const std::string msg = error_of([] { check_json_depth(nested(65), "f.json", "config"); });
    CHECK(contains(msg, "f.json: config: JSON nested deeper than 64 levels"));
}

TEST_CASE("malformed (4b): a header nested too deep is refused before it is parsed") {
    const std::string deep = "{\"__metadata__\": {}, \"x\": " + nested(100000) + "}";
    expect_parse_error(make_file(deep), {"header", "nested deeper than 64"});
}
