// Counter-based random numbers (Philox-4x32-10) keyed by (seed, stream, offset), and the small
// rflow::Generator value that hands out non-overlapping counter ranges and can be checkpointed.
//
// Element i of a fill at `offset` is element j = offset + i of the stream: a pure function of
// (seed, stream, j), the same for any chunking, thread count, and on CUDA. The word layout of each
// kind (which Philox block and lanes element j reads) is documented in src/common/philox_math.hpp.
#pragma once

#include <array>
#include <cstdint>

#include "rflow/export.hpp"

namespace rflow {

/// Philox-4x32-10 block function (Salmon et al. 2011; Random123's philox4x32 with 10 rounds):
/// 128-bit counter and 64-bit key to 128 bits of output. Matches Random123's known-answer vectors.
RFLOW_API std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter,
                                                std::array<uint32_t, 2> key);

/// out[i] = uniform float in [0, 1) with 24 random bits, element offset + i of (seed, stream).
/// One 32-bit word per element: `offset` counts words.
RFLOW_API void philox_uniform(float* out, int64_t n, uint64_t seed, uint64_t stream,
                              uint64_t offset);

/// out[i] = standard normal (Box-Muller), element offset + i of (seed, stream).
/// Two 32-bit words per element: `offset` counts normals, i.e. word offset / 2.
RFLOW_API void philox_normal(float* out, int64_t n, uint64_t seed, uint64_t stream,
                             uint64_t offset);

/// out[i] = integer uniform in [low, high), from 64-bit element offset + i of (seed, stream)
/// reduced by Lemire's multiply (bias <= (high - low) / 2^64). Any int64 range works.
/// Two 32-bit words per element: `offset` counts elements, i.e. word offset / 2.
/// Throws rflow::Error unless high > low.
RFLOW_API void philox_randint(int64_t* out, int64_t n, int64_t low, int64_t high, uint64_t seed,
                              uint64_t stream, uint64_t offset);

/// out = a uniformly random permutation of 0 .. n-1 (Fisher-Yates: for i = 0 .. n-2, swap
/// position i with i + r, r uniform in [0, n - i) from 64-bit element offset + i).
/// Consumes max(n - 1, 0) 64-bit elements: `offset` counts them, i.e. word offset / 2.
RFLOW_API void philox_permutation(int64_t* out, int64_t n, uint64_t seed, uint64_t stream,
                                  uint64_t offset);

/// A (seed, stream, offset) triple that fills buffers and advances its offset past the counters it
/// used, so consecutive calls never share a Philox block. `offset` counts 32-bit words; each call
/// starts at the offset rounded up to a whole block (a multiple of 4) and leaves it at the next
/// whole block after the words it consumed. Copy it freely: it is a plain value.
class RFLOW_API Generator {
public:
    /// A generator at the start (or at word `offset`) of stream `stream` of `seed`.
    explicit Generator(uint64_t seed = 0, uint64_t stream = 0, uint64_t offset = 0)
        : seed_(seed), stream_(stream), offset_(offset) {}

    /// The same seed on another stream, at offset 0 (independent numbers, e.g. one per worker).
    Generator fork(uint64_t stream) const { return Generator(seed_, stream, 0); }

    uint64_t seed() const { return seed_; }      ///< The Philox key.
    uint64_t stream() const { return stream_; }  ///< The upper half of the Philox counter.
    uint64_t offset() const { return offset_; }  ///< Next word to hand out (before block rounding).

    /// {seed, stream, offset}, for checkpoints.
    std::array<uint64_t, 3> state() const { return {seed_, stream_, offset_}; }
    /// Restores what state() returned: the following draws repeat those made after state().
    void set_state(const std::array<uint64_t, 3>& s) {
        seed_ = s[0];
        stream_ = s[1];
        offset_ = s[2];
    }

    /// Reserves `words` 32-bit words: returns the block-aligned word offset where they start and
    /// advances past them. A device fill (e.g. a CUDA kernel) uses this to get its offset.
    uint64_t reserve(uint64_t words);

    /// Fills out[0..n) with uniforms in [0, 1); consumes n words.
    void uniform(float* out, int64_t n);
    /// Fills out[0..n) with standard normals; consumes 2n words.
    void normal(float* out, int64_t n);
    /// Fills out[0..n) with integers uniform in [low, high); consumes 2n words.
    void randint(int64_t* out, int64_t n, int64_t low, int64_t high);
    /// Fills out[0..n) with a random permutation of 0 .. n-1; consumes 2 max(n - 1, 0) words.
    void permutation(int64_t* out, int64_t n);

    bool operator==(const Generator& o) const {
        return seed_ == o.seed_ && stream_ == o.stream_ && offset_ == o.offset_;
    }
    bool operator!=(const Generator& o) const { return !(*this == o); }

private:
    uint64_t seed_;
    uint64_t stream_;
    uint64_t offset_;
};

}  // namespace rflow
