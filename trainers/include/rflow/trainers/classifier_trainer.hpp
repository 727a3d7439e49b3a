// Training the image classifier of `rflow train-classifier` (the evaluation classifier of the image
// metrics, and the EMO experiments of SPEC §7): Adam under a warmup-cosine schedule (decay to 2 %
// of the lr), batches drawn with replacement, cross-entropy or EMO (rflow/emo_loss.hpp).
//
// EMO's cost embedding, row-normalised: the output layer's weight rows, a frozen copy of an
// initial classifier's ("fixed") or the current ones, detached ("adaptive") as in the EMO paper;
// or ("centroids") the class means of the initial classifier's penultimate features.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/emo_loss.hpp"
#include "rflow/export.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/nn/classifier.hpp"
#include "rflow/optim/adam.hpp"
#include "rflow/optim/schedule.hpp"
#include "rflow/philox.hpp"
#include "rflow/trainers/flow_matching.hpp"

namespace rflow::trainers {

struct ClassifierTrainConfig {
    int64_t steps = 1500;
    int64_t batch = 128;
    float lr = 1e-3f;
    uint64_t seed = 0;                  ///< batches are stream 1 of this seed
    ClassifierLoss loss = ClassifierLoss::ce;
    std::string cost = "fixed";         ///< EMO cost embedding: fixed | adaptive | centroids
};

/// Logits (or penultimate features) of many images, in batches of 500, without recording.
RFLOW_API Tensor classify(nn::Classifier& c, const Tensor& images, bool features);
/// The output layer's weight [classes, features] (fc2.weight).
RFLOW_API Tensor classifier_head_weight(const nn::Classifier& c);
/// Class means [classes, features] of the penultimate features over (up to 20,000 of) the images;
/// Error when a class has no image among them.
RFLOW_API Tensor class_centroids(nn::Classifier& c, const Tensor& images, const std::vector<int64_t>& labels);

class RFLOW_API ClassifierTrainer {
public:
    /// `fixed_costs`: the normalised cost embedding for cost "fixed" or "centroids" (ignored for
    /// cross-entropy and "adaptive"). Error when the labels do not match the images.
    ClassifierTrainer(nn::Classifier& model, Tensor images, std::vector<int64_t> labels, ClassifierTrainConfig cfg,
                      Tensor fixed_costs = Tensor());
    /// One step; returns the loss. NonFiniteError (before the update) when the loss is not finite.
    float step();
    /// Runs until cfg.steps steps in total; progress may stop it early by returning false.
    void train(const ProgressFn& progress = nullptr);
    int64_t steps_done() const { return step_; }
    const ClassifierTrainConfig& config() const { return cfg_; }
    /// Model, optimizer, RNG and step: everything to resume bit for bit.
    io::Checkpoint checkpoint(const std::string& config_json = "") const;
    void restore(const io::Checkpoint& c);
    int64_t resumed_from() const { return resumed_from_; }

private:
    nn::Classifier& model_;
    Tensor images_, fixed_costs_;
    std::vector<int64_t> labels_;
    ClassifierTrainConfig cfg_;
    optim::Adam opt_;
    optim::WarmupCosineSchedule schedule_;
    Generator batches_;
    int64_t step_ = 0, resumed_from_ = -1;
};

}  // namespace rflow::trainers
