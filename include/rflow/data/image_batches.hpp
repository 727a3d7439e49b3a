// Shuffled mini-batches over an in-memory image dataset, with optional random horizontal flips,
// reproducible from the generator's seed and resumable exactly from a saved state.
//
// Randomness of epoch e, drawn from the generator G_e as it stands when the epoch starts:
//   1. the order: G_e.permutation(order, N) (Fisher-Yates over Philox, see rflow/philox.hpp);
//   2. the flip words: f = G_e.reserve(N); the sample at position p of the epoch (p = 0 .. N-1) is
//      mirrored when philox_uniform word f + p is < 0.5 (only with random_flip; the words are
//      reserved either way, so switching flips on does not change the order).
// What remains of the generator is G_{e+1}. The state is (epoch, position, G_e), so set_state()
// rebuilds the epoch's order and flips without storing them.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "rflow/device.hpp"
#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"

namespace rflow::data {

/// How ImageBatches cuts epochs into batches.
struct ImageBatchesOptions {
    int64_t batch_size = 64;      ///< B >= 1
    bool drop_last = false;       ///< drop each epoch's last batch when it has fewer than B samples
    bool random_flip = false;     ///< mirror each sample left-right with probability 1/2
    Device device = Device::cpu;  ///< where the batch tensor x is put
};

/// One batch.
struct ImageBatch {
    Tensor x;                      ///< [B, C, H, W] (B smaller for a kept last partial batch)
    std::vector<int64_t> labels;   ///< B labels (empty when the dataset has no labels)
    std::vector<int64_t> indices;  ///< the B dataset indices the samples came from
    std::vector<uint8_t> flipped;  ///< B flags: 1 where the sample was mirrored
    int64_t epoch = 0;             ///< the epoch this batch belongs to
};

/// Where an ImageBatches stands, for checkpoints.
struct ImageBatchesState {
    int64_t epoch = 0;                      ///< current epoch (0-based)
    int64_t position = 0;                   ///< samples of this epoch already handed out
    int64_t dataset_size = 0;               ///< N, checked by set_state
    std::array<uint64_t, 3> generator{};    ///< Generator::state() at the start of this epoch
};

/// An endless stream of shuffled batches over (images [N, C, H, W], labels): every epoch visits
/// each sample exactly once in a fresh Philox permutation; next() moves to the next epoch when the
/// current one is used up. Batches are gathered with one memcpy per sample (per row when flipped).
class RFLOW_API ImageBatches {
public:
    /// Takes the images (copied to a contiguous CPU tensor unless already one; shared otherwise)
    /// and N labels (or none). Draws epoch 0's order from `gen`. rflow::Error on a non-4-D or
    /// empty tensor, a label count that is not N, batch_size < 1, or drop_last with N < B.
    ImageBatches(const Tensor& images, std::vector<int64_t> labels, Generator gen,
                 const ImageBatchesOptions& options = {});

    /// The next batch (the first of the next epoch when this one is used up).
    ImageBatch next();

    int64_t size() const { return n_; }  ///< N
    int64_t batches_per_epoch() const;   ///< N / B rounded down (drop_last) or up
    int64_t epoch() const { return epoch_; }
    int64_t position() const { return position_; }  ///< samples of this epoch handed out so far
    /// The dataset indices of the current epoch, in the order they are handed out.
    const std::vector<int64_t>& order() const { return order_; }
    const ImageBatchesOptions& options() const { return options_; }

    /// Saves where the stream stands: after set_state(state()), possibly on another object built
    /// over the same data and options, next() returns the same batches as it would have here.
    ImageBatchesState state() const;
    /// Restores a state() (rflow::Error when its dataset size differs or its position is invalid).
    void set_state(const ImageBatchesState& s);

private:
    void start_epoch(int64_t epoch, const Generator& at_start);

    Tensor images_;
    std::vector<int64_t> labels_;
    ImageBatchesOptions options_;
    int64_t n_ = 0, sample_numel_ = 0, height_ = 0, width_ = 0;
    int64_t epoch_ = 0, position_ = 0;
    Generator epoch_gen_;       // at the start of the current epoch
    Generator gen_;             // after the current epoch's draws
    uint64_t flip_offset_ = 0;  // word offset of the current epoch's flip uniforms
    std::vector<int64_t> order_;
};

}  // namespace rflow::data
