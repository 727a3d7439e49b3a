// Tests of the Philox-4x32-10 generator: Random123 known answers, the documented element mapping,
// offset independence, simple statistics, and rflow::Generator bookkeeping and state round trips.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <utility>
#include <vector>

#include "rflow/error.hpp"
#include "rflow/philox.hpp"

using rflow::Generator;

namespace {

using Block = std::array<uint32_t, 4>;
__extension__ typedef unsigned __int128 u128;  // reference for the library's 64x64 high product

// The documented mapping, recomputed here from the public block function only.
Block block_of(uint64_t seed, uint64_t stream, uint64_t block) {
    return rflow::philox4x32_10({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                 static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)},
                                {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

std::vector<float> uniforms(int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    std::vector<float> v(static_cast<size_t>(n));
    rflow::philox_uniform(v.data(), n, seed, stream, offset);
    return v;
}

std::vector<float> normals(int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    std::vector<float> v(static_cast<size_t>(n));
    rflow::philox_normal(v.data(), n, seed, stream, offset);
    return v;
}

std::vector<int64_t> randints(int64_t n, int64_t lo, int64_t hi, uint64_t seed, uint64_t stream,
                              uint64_t offset) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    rflow::philox_randint(v.data(), n, lo, hi, seed, stream, offset);
    return v;
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    rflow::philox_permutation(v.data(), n, seed, stream, offset);
    return v;
}

template <class T>
std::vector<T> concat(std::vector<T> a, const std::vector<T>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

TEST_CASE("philox4x32_10 matches the Random123 known-answer vectors") {
    CHECK(rflow::philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
          Block{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
    CHECK(rflow::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                               {0xffffffffu, 0xffffffffu}) ==
          Block{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
    CHECK(rflow::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                               {0xa4093822u, 0x299f31d0u}) ==
          Block{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("fills follow the documented (seed, stream, offset) -> counter mapping") {
    // Seed and stream with both 32-bit halves set, offsets around a 2^32-block boundary.
    const uint64_t seed = 0x0123456789abcdefull, stream = 0xfedcba9876543210ull;
    const uint64_t base = (uint64_t{1} << 34) - 5;  // uniform blocks 2^32 - 2 .. 2^32 + 1
    const auto u = uniforms(19, seed, stream, base);
    for (uint64_t i = 0; i < u.size(); ++i) {
        const uint64_t j = base + i;
        const uint32_t w = block_of(seed, stream, j / 4)[j % 4];
        CHECK(u[i] == static_cast<float>(w >> 8) * (1.0f / 16777216.0f));
    }
    const uint64_t nbase = (uint64_t{1} << 33) - 3;
    const auto z = normals(9, seed, stream, nbase);
    for (uint64_t i = 0; i < z.size(); ++i) {
        const uint64_t j = nbase + i;
        const Block b = block_of(seed, stream, j / 2);
        const uint32_t w1 = b[2 * (j % 2)], w2 = b[2 * (j % 2) + 1];
        const double u1 = ((w1 >> 8) + 1.0) / 16777216.0, u2 = (w2 >> 8) / 16777216.0;
        const double ref = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
        CHECK(z[i] == doctest::Approx(ref).epsilon(1e-6));
    }
}

TEST_CASE("randint is low + floor(x * (high - low) / 2^64) of the 64-bit element x") {
    const uint64_t seed = 0x0123456789abcdefull, stream = 3, nbase = (uint64_t{1} << 33) - 3;
    const int64_t mn = std::numeric_limits<int64_t>::min(), mx = std::numeric_limits<int64_t>::max();
    const std::pair<int64_t, int64_t> ranges[] = {
        {0, 10}, {-7, 3}, {0, mx}, {mn, mx}, {mn, 0}, {-1, mx}, {0, int64_t{0x7fffffff12345}}};
    for (auto [lo, hi] : ranges) {
        CAPTURE(lo);
        CAPTURE(hi);
        const auto x = randints(257, lo, hi, seed, stream, nbase);
        const uint64_t range = uint64_t(hi) - uint64_t(lo);
        for (uint64_t i = 0; i < x.size(); ++i) {
            const uint64_t j = nbase + i;
            const Block b = block_of(seed, stream, j / 2);
            const uint64_t x64 = (uint64_t{b[2 * (j % 2) + 1]} << 32) | b[2 * (j % 2)];
            const uint64_t r = static_cast<uint64_t>((static_cast<u128>(x64) * range) >> 64);
            CHECK(x[i] == static_cast<int64_t>(uint64_t(lo) + r));
        }
    }
}

TEST_CASE("element j depends only on j: split fills equal one fill") {
    const uint64_t seed = 42, stream = 7;
    for (int64_t k : {0, 1, 2, 3, 4, 5, 7, 13, 64, 99}) {
        CAPTURE(k);
        CHECK(concat(uniforms(k, seed, stream, 0), uniforms(200 - k, seed, stream, k)) ==
              uniforms(200, seed, stream, 0));
        CHECK(concat(normals(k, seed, stream, 0), normals(200 - k, seed, stream, k)) ==
              normals(200, seed, stream, 0));
        CHECK(concat(randints(k, -5, 1000, seed, stream, 0),
                     randints(200 - k, -5, 1000, seed, stream, k)) ==
              randints(200, -5, 1000, seed, stream, 0));
    }
    // A fill starting mid-stream equals the tail of a fill from an earlier offset.
    const auto all = uniforms(50, seed, stream, 3);
    CHECK(uniforms(20, seed, stream, 33) == std::vector<float>(all.begin() + 30, all.end()));
}

TEST_CASE("different seeds and streams give different numbers") {
    const auto a = uniforms(64, 1, 0, 0);
    CHECK(a != uniforms(64, 2, 0, 0));
    CHECK(a != uniforms(64, 1, 1, 0));
    CHECK(a != uniforms(64, uint64_t{1} << 32 | 1, 0, 0));  // high seed word is used
    CHECK(a != uniforms(64, 1, uint64_t{1} << 32, 0));      // high stream word is used
    CHECK(normals(64, 1, 0, 0) != normals(64, 1, 5, 0));
    CHECK(randints(64, 0, 1 << 20, 1, 0, 0) != randints(64, 0, 1 << 20, 3, 0, 0));
}

TEST_CASE("uniform statistics") {
    const int64_t n = 1000000;
    const auto u = uniforms(n, 2024, 0, 0);
    double sum = 0;
    float lo = 1, hi = 0;
    for (float x : u) {
        sum += x;
        lo = std::min(lo, x);
        hi = std::max(hi, x);
    }
    CHECK(lo >= 0.0f);
    CHECK(hi < 1.0f);
    CHECK(std::abs(sum / n - 0.5) < 0.002);
    // Ten equal bins, each ~n/10 (sd ~300): a chi-square with 9 degrees of freedom.
    std::array<double, 10> bins{};
    for (float x : u) bins[static_cast<size_t>(x * 10)] += 1;
    double chi2 = 0;
    for (double c : bins) chi2 += (c - n / 10.0) * (c - n / 10.0) / (n / 10.0);
    CHECK(chi2 < 33.7);  // p = 1e-4
}

TEST_CASE("normal statistics") {
    const int64_t n = 1000000;
    const auto z = normals(n, 2024, 1, 0);
    double s1 = 0, s2 = 0, s4 = 0;
    int64_t within1 = 0;
    for (float x : z) {
        REQUIRE(std::isfinite(x));
        s1 += x;
        s2 += double(x) * x;
        s4 += double(x) * x * x * x;
        within1 += std::abs(x) < 1.0f;
    }
    const double mean = s1 / n, var = s2 / n - mean * mean;
    CHECK(std::abs(mean) < 0.005);
    CHECK(std::abs(var - 1.0) < 0.01);
    CHECK(std::abs(s4 / n - 3.0) < 0.05);                   // kurtosis of a Gaussian
    CHECK(std::abs(double(within1) / n - 0.6826895) < 0.003);  // P(|z| < 1)
}

TEST_CASE("randint covers its range evenly, including extreme ranges") {
    const int64_t n = 100000, lo = -3, hi = 7;
    const auto x = randints(n, lo, hi, 9, 0, 0);
    std::array<double, 10> counts{};
    for (int64_t v : x) {
        REQUIRE(v >= lo);
        REQUIRE(v < hi);
        counts[static_cast<size_t>(v - lo)] += 1;
    }
    double chi2 = 0;
    for (double c : counts) chi2 += (c - n / 10.0) * (c - n / 10.0) / (n / 10.0);
    CHECK(chi2 < 33.7);

    // One-value range, and the widest int64 range (no overflow; both signs appear).
    for (int64_t v : randints(100, 5, 6, 1, 0, 0)) CHECK(v == 5);
    const int64_t mn = std::numeric_limits<int64_t>::min(), mx = std::numeric_limits<int64_t>::max();
    const auto w = randints(1000, mn, mx, 1, 0, 0);
    CHECK(std::all_of(w.begin(), w.end(), [&](int64_t v) { return v < mx; }));
    CHECK(std::any_of(w.begin(), w.end(), [](int64_t v) { return v < 0; }));
    CHECK(std::any_of(w.begin(), w.end(), [](int64_t v) { return v > 0; }));

    int64_t out[1];
    CHECK_THROWS_AS(rflow::philox_randint(out, 1, 3, 3, 0, 0, 0), rflow::Error);
    CHECK_THROWS_AS(rflow::philox_randint(out, 1, 4, 3, 0, 0, 0), rflow::Error);
    CHECK_THROWS_AS(rflow::philox_uniform(nullptr, 4, 0, 0, 0), rflow::Error);
    CHECK_THROWS_AS(rflow::philox_normal(nullptr, -1, 0, 0, 0), rflow::Error);
    rflow::philox_uniform(nullptr, 0, 0, 0, 0);  // an empty fill is fine
}

TEST_CASE("permutation is a permutation, deterministic, seed-dependent and uniform") {
    for (int64_t n : {0, 1, 2, 5, 1000}) {
        auto p = permutation(n, 11, 0, 0);
        CHECK(p == permutation(n, 11, 0, 0));
        std::sort(p.begin(), p.end());
        std::vector<int64_t> id(static_cast<size_t>(n));
        std::iota(id.begin(), id.end(), 0);
        CHECK(p == id);
    }
    CHECK(permutation(1000, 11, 0, 0) != permutation(1000, 12, 0, 0));
    CHECK(permutation(1000, 11, 0, 0) != permutation(1000, 11, 1, 0));

    // All 6 permutations of 3 items about equally often over 60000 draws from one generator.
    Generator g(77);
    std::map<std::vector<int64_t>, double> seen;
    const int trials = 60000;
    std::vector<int64_t> p(3);
    for (int t = 0; t < trials; ++t) {
        g.permutation(p.data(), 3);
        seen[p] += 1;
    }
    REQUIRE(seen.size() == 6);
    double chi2 = 0;
    for (const auto& kv : seen) {
        const double d = kv.second - trials / 6.0;
        chi2 += d * d / (trials / 6.0);
    }
    CHECK(chi2 < 25.7);  // 5 degrees of freedom, p = 1e-4
}

TEST_CASE("Generator advances by whole blocks and never reuses counters") {
    Generator g(5, 3);
    CHECK(g.offset() == 0);
    std::vector<float> a(3), b(5);
    g.uniform(a.data(), 3);
    CHECK(g.offset() == 4);  // 3 words, rounded up to a block
    g.uniform(b.data(), 5);
    CHECK(g.offset() == 12);
    CHECK(a == uniforms(3, 5, 3, 0));
    CHECK(b == uniforms(5, 5, 3, 4));

    std::vector<float> z(3);
    g.normal(z.data(), 3);  // 6 words from word 12 = normal 6
    CHECK(g.offset() == 20);
    CHECK(z == normals(3, 5, 3, 6));

    std::vector<int64_t> r(2), p(4);
    g.randint(r.data(), 2, 0, 100);  // 4 words from word 20 = element 10
    CHECK(g.offset() == 24);
    CHECK(r == randints(2, 0, 100, 5, 3, 10));
    g.permutation(p.data(), 4);  // 3 draws = 6 words -> 8
    CHECK(g.offset() == 32);
    CHECK(p == permutation(4, 5, 3, 12));

    // A failed call does not move the offset; an empty one consumes nothing.
    CHECK_THROWS_AS(g.randint(r.data(), 2, 1, 1), rflow::Error);
    g.uniform(nullptr, 0);
    CHECK(g.offset() == 32);

    // An unaligned offset (e.g. set by hand) is rounded up before use.
    Generator h(5, 3, 13);
    CHECK(h.reserve(1) == 16);
    CHECK(h.offset() == 20);
}

TEST_CASE("Generator state round trip and fork") {
    Generator g(123456789, 0);
    std::vector<float> warm(10);
    g.normal(warm.data(), 10);
    const auto saved = g.state();
    CHECK(saved == std::array<uint64_t, 3>{123456789, 0, 20});

    std::vector<float> u1(7), z1(9);
    std::vector<int64_t> r1(5);
    g.uniform(u1.data(), 7);
    g.normal(z1.data(), 9);
    g.randint(r1.data(), 5, -10, 10);

    Generator h;
    h.set_state(saved);
    CHECK(h == Generator(123456789, 0, 20));
    std::vector<float> u2(7), z2(9);
    std::vector<int64_t> r2(5);
    h.uniform(u2.data(), 7);
    h.normal(z2.data(), 9);
    h.randint(r2.data(), 5, -10, 10);
    CHECK(u1 == u2);
    CHECK(z1 == z2);
    CHECK(r1 == r2);
    CHECK(g == h);

    const Generator f = g.fork(9);
    CHECK(f.seed() == g.seed());
    CHECK(f.stream() == 9);
    CHECK(f.offset() == 0);
    Generator f2 = f, g0(123456789, 0);
    std::vector<float> fa(8), ga(8);
    f2.uniform(fa.data(), 8);
    g0.uniform(ga.data(), 8);
    CHECK(fa != ga);
}
