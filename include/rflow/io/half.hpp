// IEEE 754 binary16 (fp16) and bfloat16 <-> float conversions: round-to-nearest-even, NaN/Inf kept.
#pragma once

#include <cstdint>
#include <cstring>

namespace rflow::io {

/// Bit pattern of a float (no aliasing tricks).
inline uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

/// Float with the given bit pattern.
inline float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

/// float -> fp16 bits, round-to-nearest-even; overflow gives +-Inf, NaN stays a (quiet) NaN.
inline uint16_t float_to_f16_bits(float f) {
    const uint32_t x = float_bits(f);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
    const uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) {  // Inf or NaN
        if (a == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u);
        return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // quiet NaN, payload top bits
    }
    if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: rounds to Inf
    if (a >= 0x38800000u) {  // normal fp16 range (>= 2^-14)
        const uint32_t odd = (a >> 13) & 1u;
        const uint32_t r = a - (112u << 23) + 0xfffu + odd;  // rebias 127 -> 15 and round
        return static_cast<uint16_t>(sign | (r >> 13));
    }
    // Subnormal fp16 (or zero): value in units of 2^-24 is m * 2^(e - 126).
    const uint32_t e = a >> 23;
    if (e == 0) return sign;  // float zero/subnormal: far below 2^-25
    const uint32_t shift = 126u - e;  // >= 14
    if (shift > 24) return sign;      // < half of the smallest subnormal
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u))) ++q;  // may carry into the smallest normal
    return static_cast<uint16_t>(sign | q);
}

/// fp16 bits -> float (exact).
inline float f16_bits_to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0x1f) return bits_float(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0) return bits_float(sign);
        e = 113;  // normalise the subnormal
        while (!(m & 0x400u)) {
            m <<= 1;
            --e;
        }
        m &= 0x3ffu;
        return bits_float(sign | (e << 23) | (m << 13));
    }
    return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

/// float -> bfloat16 bits, round-to-nearest-even; overflow gives +-Inf, NaN stays a (quiet) NaN.
inline uint16_t float_to_bf16_bits(float f) {
    const uint32_t x = float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);
    const uint32_t odd = (x >> 16) & 1u;
    return static_cast<uint16_t>((x + 0x7fffu + odd) >> 16);
}

/// bfloat16 bits -> float (exact).
inline float bf16_bits_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

}  // namespace rflow::io
