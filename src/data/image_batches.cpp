// ImageBatches: per-epoch Philox permutation and flip words, batch gather by memcpy, and the
// (epoch, position, epoch-start generator) state that resumes a stream exactly.
#include "rflow/data/image_batches.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "rflow/error.hpp"

namespace rflow::data {

ImageBatches::ImageBatches(const Tensor& images, std::vector<int64_t> labels, Generator gen,
                           const ImageBatchesOptions& options)
    : labels_(std::move(labels)), options_(options) {
    RFLOW_CHECK(images.defined() && images.dim() == 4,
                "ImageBatches: images must be [N, C, H, W], got "
                    << (images.defined() ? shape_str(images.shape()) : "undefined"));
    images_ = images.detach().to(Device::cpu).contiguous();
    n_ = images_.size(0);
    height_ = images_.size(2);
    width_ = images_.size(3);
    sample_numel_ = images_.size(1) * height_ * width_;
    RFLOW_CHECK(n_ > 0 && sample_numel_ > 0, "ImageBatches: no samples in " << shape_str(images_.shape()));
    RFLOW_CHECK(labels_.empty() || static_cast<int64_t>(labels_.size()) == n_,
                "ImageBatches: " << labels_.size() << " labels for " << n_ << " images");
    RFLOW_CHECK(options_.batch_size >= 1, "ImageBatches: batch_size must be at least 1, got " << options_.batch_size);
    RFLOW_CHECK(!options_.drop_last || options_.batch_size <= n_,
                "ImageBatches: drop_last with batch_size " << options_.batch_size << " over " << n_
                                                           << " samples would never give a batch");
    start_epoch(0, gen);
}

void ImageBatches::start_epoch(int64_t epoch, const Generator& at_start) {
    epoch_ = epoch;
    position_ = 0;
    epoch_gen_ = at_start;
    gen_ = at_start;
    order_.resize(static_cast<size_t>(n_));
    gen_.permutation(order_.data(), n_);
    flip_offset_ = gen_.reserve(static_cast<uint64_t>(n_));
}

int64_t ImageBatches::batches_per_epoch() const {
    const int64_t b = options_.batch_size;
    return options_.drop_last ? n_ / b : (n_ + b - 1) / b;
}

ImageBatch ImageBatches::next() {
    const int64_t b = options_.batch_size;
    const int64_t left = n_ - position_;
    if (left == 0 || (options_.drop_last && left < b)) start_epoch(epoch_ + 1, gen_);
    const int64_t m = std::min(b, n_ - position_);

    ImageBatch out;
    out.epoch = epoch_;
    out.indices.assign(order_.begin() + position_, order_.begin() + position_ + m);
    out.flipped.assign(static_cast<size_t>(m), 0);
    if (options_.random_flip) {
        std::vector<float> u(static_cast<size_t>(m));
        philox_uniform(u.data(), m, epoch_gen_.seed(), epoch_gen_.stream(), flip_offset_ + static_cast<uint64_t>(position_));
        for (int64_t i = 0; i < m; ++i) out.flipped[i] = u[i] < 0.5f ? 1 : 0;
    }
    if (!labels_.empty()) {
        out.labels.resize(static_cast<size_t>(m));
        for (int64_t i = 0; i < m; ++i) out.labels[i] = labels_[out.indices[i]];
    }
    Tensor x = Tensor::empty({m, images_.size(1), height_, width_});
    const float* src = images_.data();
    float* dst = x.data();
    for (int64_t i = 0; i < m; ++i) {
        const float* s = src + out.indices[i] * sample_numel_;
        float* d = dst + i * sample_numel_;
        if (!out.flipped[i]) {
            std::memcpy(d, s, static_cast<size_t>(sample_numel_) * sizeof(float));
        } else {
            for (int64_t r = 0; r < sample_numel_; r += width_) std::reverse_copy(s + r, s + r + width_, d + r);
        }
    }
    out.x = options_.device == Device::cpu ? x : x.to(options_.device);
    position_ += m;
    return out;
}

ImageBatchesState ImageBatches::state() const {
    ImageBatchesState s;
    s.epoch = epoch_;
    s.position = position_;
    s.dataset_size = n_;
    s.generator = epoch_gen_.state();
    return s;
}

void ImageBatches::set_state(const ImageBatchesState& s) {
    RFLOW_CHECK(s.dataset_size == n_, "ImageBatches::set_state: the state is for " << s.dataset_size
                                                                                   << " samples, this dataset has " << n_);
    RFLOW_CHECK(s.epoch >= 0 && s.position >= 0 && s.position <= n_,
                "ImageBatches::set_state: invalid epoch " << s.epoch << " / position " << s.position);
    Generator g;
    g.set_state(s.generator);
    start_epoch(s.epoch, g);
    position_ = s.position;
}

}  // namespace rflow::data
