// Philox-4x32-10 block function and the element mapping of rflow's random streams, as inline
// host-and-device functions shared by the CPU (.cpp) and CUDA (.cu) twins. Internal header.
//
// The mapping below is the contract that makes a sample reproducible from its seed alone: element j
// of a stream is a pure function of (seed, stream, j), whatever the device, thread count or chunking.
//
//   key     = { seed_lo, seed_hi }                       (seed split into two 32-bit words)
//   counter = { block_lo, block_hi, stream_lo, stream_hi }
//   words   = philox4x32_10(counter, key)                -> 4 x uint32, "lanes" 0..3 of the block
//
//   uniform element j : block j / 4, lane j % 4;  u = (w >> 8) * 2^-24            in [0, 1)
//   normal  element j : block j / 2, lanes a = 2 (j % 2), a + 1;
//                       u1 = ((w_a >> 8) + 1) * 2^-24 in (0, 1],  u2 = (w_{a+1} >> 8) * 2^-24,
//                       z  = sqrt(-2 ln u1) cos(2 pi u2)   (Box-Muller, cos branch, in double)
//   u64     element j : block j / 2, lanes a = 2 (j % 2), a + 1;  x = w_{a+1} << 32 | w_a
//   bounded element j : u64 element j reduced to [0, range) by Lemire's multiply, floor(x range / 2^64)
//
// So a uniform consumes one 32-bit word and a normal, u64 or bounded draw consumes two; an offset
// given in "elements" of one kind is converted to words by the caller (rflow::Generator counts words).
// Uniforms are bit-identical everywhere. Normals are computed in double and rounded to float, so
// CPU and CUDA agree bit for bit except where libm and CUDA's log/cos (both within ~1-2 double ulp)
// straddle a float rounding boundary: at most 1 float ulp, and vanishingly rare.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#  define RFLOW_HD __host__ __device__
#else
#  define RFLOW_HD
#endif

namespace rflow::detail {

/// Four 32-bit words: a Philox counter or output block.
struct PhiloxU32x4 {
    uint32_t v[4];
};

/// Two 32-bit words: a Philox key.
struct PhiloxU32x2 {
    uint32_t v[2];
};

// Multipliers and Weyl key increments of Philox-4x32 (Salmon et al. 2011, Random123).
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1

/// hi, lo = the upper and lower 32 bits of the 64-bit product a * b.
RFLOW_HD inline void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
    const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
    hi = static_cast<uint32_t>(p >> 32);
    lo = static_cast<uint32_t>(p);
}

/// One Philox-4x32 round (an S-box of two multiplies, a word permutation, a key xor):
///   (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2
///   c' = { hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0 }
RFLOW_HD inline PhiloxU32x4 philox_round(PhiloxU32x4 c, PhiloxU32x2 k) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kPhiloxM0, c.v[0], hi0, lo0);
    philox_mulhilo(kPhiloxM1, c.v[2], hi1, lo1);
    PhiloxU32x4 r;
    r.v[0] = hi1 ^ c.v[1] ^ k.v[0];
    r.v[1] = lo1;
    r.v[2] = hi0 ^ c.v[3] ^ k.v[1];
    r.v[3] = lo0;
    return r;
}

/// Philox-4x32-10: ten rounds, the key bumped by (W0, W1) between consecutive rounds.
RFLOW_HD inline PhiloxU32x4 philox4x32_10(PhiloxU32x4 ctr, PhiloxU32x2 key) {
    ctr = philox_round(ctr, key);
    for (int r = 1; r < 10; ++r) {
        key.v[0] += kPhiloxW0;
        key.v[1] += kPhiloxW1;
        ctr = philox_round(ctr, key);
    }
    return ctr;
}

/// The block `block` of stream `stream` under seed `seed`, per the mapping at the top of this file.
RFLOW_HD inline PhiloxU32x4 philox_block(uint64_t seed, uint64_t stream, uint64_t block) {
    PhiloxU32x4 ctr;
    ctr.v[0] = static_cast<uint32_t>(block);
    ctr.v[1] = static_cast<uint32_t>(block >> 32);
    ctr.v[2] = static_cast<uint32_t>(stream);
    ctr.v[3] = static_cast<uint32_t>(stream >> 32);
    PhiloxU32x2 key;
    key.v[0] = static_cast<uint32_t>(seed);
    key.v[1] = static_cast<uint32_t>(seed >> 32);
    return philox4x32_10(ctr, key);
}

/// u = (x >> 8) * 2^-24 in [0, 1): the top 24 bits fill a float mantissa exactly.
RFLOW_HD inline float philox_u01(uint32_t x) {
    return static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
}

/// u = ((x >> 8) + 1) * 2^-24 in (0, 1], in double: the log argument of Box-Muller, never 0.
RFLOW_HD inline double philox_u01_open0(uint32_t x) {
    return static_cast<double>((x >> 8) + 1u) * (1.0 / 16777216.0);
}

/// Box-Muller, cos branch: z = sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1], u2 in [0, 1).
/// |z| <= sqrt(-2 ln 2^-24) ~= 5.77. Computed in double, rounded once to float.
RFLOW_HD inline float philox_box_muller(uint32_t w1, uint32_t w2) {
    const double u1 = philox_u01_open0(w1);
    const double u2 = static_cast<double>(w2 >> 8) * (1.0 / 16777216.0);
    const double two_pi = 6.283185307179586476925286766559;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2));
}

/// x = hi << 32 | lo: a 64-bit draw from two words.
RFLOW_HD inline uint64_t philox_join64(uint32_t lo, uint32_t hi) {
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

/// floor(x * range / 2^64) in [0, range) (Lemire's multiply; bias <= range / 2^64, negligible).
RFLOW_HD inline uint64_t philox_bounded(uint64_t x, uint64_t range) {
#if defined(__CUDA_ARCH__)
    return __umul64hi(x, range);
#else
    // High 64 bits of the 128-bit product from 32-bit halves (portable, no __int128):
    // x r = (xh 2^32 + xl)(rh 2^32 + rl) = xh rh 2^64 + (xh rl + xl rh) 2^32 + xl rl.
    const uint64_t xl = x & 0xffffffffu, xh = x >> 32;
    const uint64_t rl = range & 0xffffffffu, rh = range >> 32;
    const uint64_t ll = xl * rl, lh = xl * rh, hl = xh * rl, hh = xh * rh;
    const uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);  // < 3 * 2^32
    return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
#endif
}

// Element-wise forms of the mapping: one element per call (a CUDA thread may instead compute a
// block once and write its 4 uniforms or 2 normals; the values are the same).

/// Uniform element j of (seed, stream): block j / 4, lane j % 4.
RFLOW_HD inline float philox_uniform_at(uint64_t seed, uint64_t stream, uint64_t j) {
    const PhiloxU32x4 b = philox_block(seed, stream, j >> 2);
    return philox_u01(b.v[j & 3]);
}

/// Normal element j of (seed, stream): block j / 2, lanes 2 (j % 2) and 2 (j % 2) + 1.
RFLOW_HD inline float philox_normal_at(uint64_t seed, uint64_t stream, uint64_t j) {
    const PhiloxU32x4 b = philox_block(seed, stream, j >> 1);
    const unsigned a = static_cast<unsigned>(j & 1) * 2u;
    return philox_box_muller(b.v[a], b.v[a + 1]);
}

/// 64-bit element j of (seed, stream): block j / 2, low word lane 2 (j % 2), high word the next lane.
RFLOW_HD inline uint64_t philox_u64_at(uint64_t seed, uint64_t stream, uint64_t j) {
    const PhiloxU32x4 b = philox_block(seed, stream, j >> 1);
    const unsigned a = static_cast<unsigned>(j & 1) * 2u;
    return philox_join64(b.v[a], b.v[a + 1]);
}

}  // namespace rflow::detail
