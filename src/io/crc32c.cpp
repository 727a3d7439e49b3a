// CRC-32C (Castagnoli), table-driven one byte at a time: fast enough for event files and small.
#include "rflow/io/crc32c.hpp"

#include <array>

namespace rflow::io {

namespace {

// table[b] = CRC of the byte b alone, reflected polynomial 0x82F63B78 (LSB first, like zlib's crc32).
constexpr std::array<uint32_t, 256> make_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t b = 0; b < 256; ++b) {
        uint32_t c = b;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[b] = c;
    }
    return t;
}

constexpr std::array<uint32_t, 256> kTable = make_table();

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
    // Register starts at ~0 and is inverted at the end; continuing from `crc` undoes that inversion.
    const auto* p = static_cast<const uint8_t*>(data);
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xffu] ^ (c >> 8);
    return ~c;
}

uint32_t masked_crc32c(const void* data, size_t n) {
    const uint32_t c = crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

}  // namespace rflow::io
