// CPU fills of Philox-4x32-10 streams (uniform, normal, randint, permutation) and rflow::Generator.
// Each loop computes a block once and writes all the elements it holds; the values are exactly
// those of the element-wise mapping in src/common/philox_math.hpp, which CUDA kernels use too.
#include "rflow/philox.hpp"

#include <utility>

#include "common/philox_math.hpp"
#include "rflow/error.hpp"

namespace rflow {

using detail::PhiloxU32x2;
using detail::PhiloxU32x4;

namespace {

void check_fill(const void* out, int64_t n) {
    RFLOW_CHECK(n >= 0, "element count must be >= 0, got " << n);
    RFLOW_CHECK(n == 0 || out != nullptr, "null output buffer for " << n << " elements");
}

// Writes f(x_j) for the 64-bit elements j = offset .. offset + n - 1 (two per block).
template <class F>
void fill_u64(int64_t n, uint64_t seed, uint64_t stream, uint64_t offset, F&& f) {
    for (int64_t i = 0; i < n;) {
        const uint64_t j = offset + static_cast<uint64_t>(i);
        const PhiloxU32x4 b = detail::philox_block(seed, stream, j >> 1);
        for (unsigned a = static_cast<unsigned>(j & 1) * 2u; a < 4 && i < n; a += 2, ++i)
            f(i, detail::philox_join64(b.v[a], b.v[a + 1]));
    }
}

// x rounded up to a whole block of 4 words (wraps modulo 2^64 like every counter here).
uint64_t round_up4(uint64_t x) { return (x + 3u) & ~uint64_t{3}; }

}  // namespace

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter,
                                      std::array<uint32_t, 2> key) {
    const PhiloxU32x4 r = detail::philox4x32_10(
        PhiloxU32x4{{counter[0], counter[1], counter[2], counter[3]}},
        PhiloxU32x2{{key[0], key[1]}});
    return {r.v[0], r.v[1], r.v[2], r.v[3]};
}

void philox_uniform(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    check_fill(out, n);
    // Element j: block j / 4, lane j % 4, u = (w >> 8) 2^-24.
    for (int64_t i = 0; i < n;) {
        const uint64_t j = offset + static_cast<uint64_t>(i);
        const PhiloxU32x4 b = detail::philox_block(seed, stream, j >> 2);
        for (unsigned lane = static_cast<unsigned>(j & 3); lane < 4 && i < n; ++lane, ++i)
            out[i] = detail::philox_u01(b.v[lane]);
    }
}

void philox_normal(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    check_fill(out, n);
    // Element j: block j / 2, lanes (2 (j % 2), 2 (j % 2) + 1), z = sqrt(-2 ln u1) cos(2 pi u2).
    for (int64_t i = 0; i < n;) {
        const uint64_t j = offset + static_cast<uint64_t>(i);
        const PhiloxU32x4 b = detail::philox_block(seed, stream, j >> 1);
        for (unsigned a = static_cast<unsigned>(j & 1) * 2u; a < 4 && i < n; a += 2, ++i)
            out[i] = detail::philox_box_muller(b.v[a], b.v[a + 1]);
    }
}

void philox_randint(int64_t* out, int64_t n, int64_t low, int64_t high, uint64_t seed,
                    uint64_t stream, uint64_t offset) {
    RFLOW_CHECK(high > low, "empty range [" << low << ", " << high << "): need high > low");
    check_fill(out, n);
    // range = high - low fits in uint64 for any int64 pair; low + r is formed modulo 2^64, which
    // lands back in [low, high) without signed overflow.
    const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
    fill_u64(n, seed, stream, offset, [&](int64_t i, uint64_t x) {
        out[i] = static_cast<int64_t>(static_cast<uint64_t>(low) + detail::philox_bounded(x, range));
    });
}

void philox_permutation(int64_t* out, int64_t n, uint64_t seed, uint64_t stream,
                        uint64_t offset) {
    check_fill(out, n);
    for (int64_t i = 0; i < n; ++i) out[i] = i;
    // Fisher-Yates, forward: position i takes a uniform pick among positions i .. n-1, using
    // 64-bit element offset + i. Each of the n! permutations has probability 1/n! (up to the
    // 2^-64-scale bias of the bounded draw).
    if (n < 2) return;
    fill_u64(n - 1, seed, stream, offset, [&](int64_t i, uint64_t x) {
        const int64_t k = i + static_cast<int64_t>(
                                  detail::philox_bounded(x, static_cast<uint64_t>(n - i)));
        std::swap(out[i], out[k]);
    });
}

// ---- Generator ----------------------------------------------------------------------------

uint64_t Generator::reserve(uint64_t words) {
    const uint64_t start = round_up4(offset_);
    offset_ = start + round_up4(words);
    return start;
}

void Generator::uniform(float* out, int64_t n) {
    check_fill(out, n);
    philox_uniform(out, n, seed_, stream_, reserve(static_cast<uint64_t>(n)));
}

void Generator::normal(float* out, int64_t n) {
    check_fill(out, n);
    // The start is a multiple of 4 words, so start / 2 normals begin exactly there.
    philox_normal(out, n, seed_, stream_, reserve(2 * static_cast<uint64_t>(n)) / 2);
}

void Generator::randint(int64_t* out, int64_t n, int64_t low, int64_t high) {
    RFLOW_CHECK(high > low, "empty range [" << low << ", " << high << "): need high > low");
    check_fill(out, n);
    philox_randint(out, n, low, high, seed_, stream_, reserve(2 * static_cast<uint64_t>(n)) / 2);
}

void Generator::permutation(int64_t* out, int64_t n) {
    check_fill(out, n);
    const uint64_t draws = n > 1 ? static_cast<uint64_t>(n - 1) : 0;
    philox_permutation(out, n, seed_, stream_, reserve(2 * draws) / 2);
}

}  // namespace rflow
