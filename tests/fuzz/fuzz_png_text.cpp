// libFuzzer target: the PNG text-chunk reader (rflow::io::read_png_text: tEXt, zTXt, iTXt; path
// only, so the input goes to a scratch file). Needs zlib only, not OpenCV.
//
// Random bytes almost never carry a right CRC-32, so each input is read twice: as it is (the
// framing and CRC checks) and with every chunk's CRC recomputed (the text-chunk decoders behind
// them).
#include <cstdint>
#include <cstring>
#include <vector>

#include <zlib.h>

#include "fuzz_util.hpp"
#include "rflow/error.hpp"
#include "rflow/io/image.hpp"

namespace {

// The input with the CRC of each complete chunk after the signature set to the right value.
std::vector<uint8_t> fix_crcs(const uint8_t* data, size_t size) {
    std::vector<uint8_t> f(data, data + size);
    size_t at = 8;
    while (at + 12 <= f.size()) {
        const uint32_t len = (uint32_t(f[at]) << 24) | (uint32_t(f[at + 1]) << 16) | (uint32_t(f[at + 2]) << 8) | f[at + 3];
        if (len > f.size() - at - 12) break;
        const uLong crc = crc32(crc32(0L, Z_NULL, 0), &f[at + 4], len + 4);
        uint8_t* c = &f[at + 8 + len];
        c[0] = uint8_t(crc >> 24), c[1] = uint8_t(crc >> 16), c[2] = uint8_t(crc >> 8), c[3] = uint8_t(crc);
        at += 12 + size_t(len);
    }
    return f;
}

void read_text(const std::vector<uint8_t>& bytes) {
    const std::string path = fuzz::write_temp("input.png", bytes.data(), bytes.size());
    try {
        (void)rflow::io::read_png_text(path);
    } catch (const rflow::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<uint8_t> raw(data, data + size);
    read_text(raw);
    const std::vector<uint8_t> fixed = fix_crcs(data, size);
    if (fixed != raw) read_text(fixed);
    return 0;
}
