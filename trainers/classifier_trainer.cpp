// The image classifier's trainer (see classifier_trainer.hpp).
#include "rflow/trainers/classifier_trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "rflow/autograd.hpp"
#include "rflow/dist.hpp"
#include "rflow/ops.hpp"

namespace rflow::trainers {

Tensor classify(nn::Classifier& c, const Tensor& images, bool features) {
    NoGradGuard ng;
    std::vector<Tensor> parts;
    for (int64_t i = 0; i < images.size(0); i += 500) {
        Tensor x = images.slice(0, i, std::min<int64_t>(i + 500, images.size(0)));
        parts.push_back(features ? c.features(x) : c.forward(x));
    }
    return concat(parts, 0);
}

Tensor classifier_head_weight(const nn::Classifier& m) {
    for (const auto& [name, t] : m.named_parameters())
        if (name == "fc2.weight") return t;
    RFLOW_FAIL("classifier has no fc2.weight");
}

Tensor class_centroids(nn::Classifier& model, const Tensor& images, const std::vector<int64_t>& labels) {
    RFLOW_CHECK(static_cast<int64_t>(labels.size()) == images.size(0),
                labels.size() << " labels for " << images.size(0) << " images");
    const int64_t n = std::min<int64_t>(images.size(0), 20000);
    const bool was_training = model.is_training();
    model.eval();
    const Tensor feats = classify(model, images.slice(0, 0, n), true);
    model.train(was_training);
    const int64_t k = model.config().num_classes, d = feats.size(1);
    std::vector<double> sums(static_cast<size_t>(k * d), 0.0);
    std::vector<int64_t> counts(static_cast<size_t>(k), 0);
    const std::vector<float> f = feats.to_vector();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = labels[i];
        RFLOW_CHECK(c >= 0 && c < k, "label " << c << " is not a class of a " << k << "-class classifier");
        ++counts[c];
        for (int64_t j = 0; j < d; ++j) sums[c * d + j] += f[i * d + j];
    }
    std::vector<float> mean(static_cast<size_t>(k * d));
    for (int64_t c = 0; c < k; ++c) {
        RFLOW_CHECK(counts[c] > 0, "class " << c << " has no training images");
        for (int64_t j = 0; j < d; ++j) mean[c * d + j] = static_cast<float>(sums[c * d + j] / counts[c]);
    }
    return Tensor::from_vector(mean, {k, d});
}

ClassifierTrainer::ClassifierTrainer(nn::Classifier& model, Tensor images, std::vector<int64_t> labels,
                                     ClassifierTrainConfig cfg, Tensor fixed_costs)
    : model_(model),
      images_(std::move(images)),
      fixed_costs_(std::move(fixed_costs)),
      labels_(std::move(labels)),
      cfg_(std::move(cfg)),
      opt_(model.parameters(), [&] {
          optim::AdamOptions o;
          o.lr = cfg_.lr;
          return o;
      }()),
      schedule_(cfg_.steps / 50, cfg_.steps, 0.02f),
      batches_(cfg_.seed, 1) {
    RFLOW_CHECK(static_cast<int64_t>(labels_.size()) == images_.size(0),
                labels_.size() << " labels for " << images_.size(0) << " images");
    RFLOW_CHECK(images_.size(0) > 0, "no training images");
    RFLOW_CHECK(cfg_.cost == "fixed" || cfg_.cost == "adaptive" || cfg_.cost == "centroids",
                "EMO cost embedding '" << cfg_.cost << "' is not fixed, adaptive or centroids");
    RFLOW_CHECK(cfg_.loss == ClassifierLoss::ce || cfg_.cost == "adaptive" || fixed_costs_.defined(),
                "EMO with a " << cfg_.cost << " cost embedding needs that embedding");
}

float ClassifierTrainer::step() {
    std::vector<int64_t> idx(static_cast<size_t>(cfg_.batch));
    batches_.randint(idx.data(), cfg_.batch, 0, images_.size(0));
    std::vector<int64_t> labels;
    for (int64_t i : idx) labels.push_back(labels_[i]);
    optim::apply_schedule(opt_, schedule_, step_ + 1, {cfg_.lr});
    opt_.zero_grad();
    const Tensor cost = cfg_.loss == ClassifierLoss::ce ? Tensor()
                        : cfg_.cost == "adaptive"       ? emo_cost_embedding(classifier_head_weight(model_))
                                                        : fixed_costs_;
    // data-parallel ranks (rflow/dist.hpp): every rank drew the whole batch; each trains on its rows.
    // Every objective is a mean of per-row terms, so the ranks' mean of their shares' gradients is
    // the whole batch's gradient.
    if (dist::world_size() > 1) {
        const auto [lo, hi] = dist::batch_share(cfg_.batch);
        idx = std::vector<int64_t>(idx.begin() + lo, idx.begin() + hi);
        labels = std::vector<int64_t>(labels.begin() + lo, labels.begin() + hi);
    }
    Tensor loss = classifier_objective(cfg_.loss, model_.forward(index_select(images_, 0, idx)), labels, cost);
    const float value = dist::world_size() > 1 ? static_cast<float>(dist::allreduce_mean(loss.item())) : loss.item();
    if (!std::isfinite(value)) throw NonFiniteError("non-finite classifier loss at step " + std::to_string(step_ + 1));
    dist::backward_mean(loss, model_.parameters());
    opt_.step();
    ++step_;
    return value;
}

void ClassifierTrainer::train(const ProgressFn& progress) {
    const auto start = std::chrono::steady_clock::now();
    while (step_ < cfg_.steps) {
        const float loss = step();
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (progress && !progress({step_, cfg_.steps, elapsed, loss})) break;
    }
}

io::Checkpoint ClassifierTrainer::checkpoint(const std::string& config_json) const {
    io::Checkpoint c;
    c.model = model_.state_dict();
    c.optimizer = opt_.state();
    c.rng = batches_.state();
    c.step = step_;
    c.config = config_json;
    return c;
}

void ClassifierTrainer::restore(const io::Checkpoint& c) {
    model_.load_state_dict(c.model);
    opt_.load_state(c.optimizer);
    batches_.set_state(c.rng);
    step_ = c.step;
    resumed_from_ = c.step;
}

}  // namespace rflow::trainers
