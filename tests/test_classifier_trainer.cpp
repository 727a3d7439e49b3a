// The image classifier's trainer (trainers/classifier_trainer.hpp): it learns a toy task, a
// checkpoint resumes it bit for bit, EMO trains with each cost embedding, and bad inputs are refused.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"
#include "rflow/trainers/classifier_trainer.hpp"
#include "temp_dir.hpp"

using namespace rflow;
using rflow::testing::max_abs_diff;

namespace {

// 8x8 grey images of three classes: a bright top half, a bright left half, or dark, plus noise
void toy_images(int64_t n, Tensor& images, std::vector<int64_t>& labels) {
    Generator g(3);
    std::vector<float> px(static_cast<size_t>(n * 64));
    const std::vector<float> noise = Tensor::normal({n * 64}, g, 0.f, 0.3f).to_vector();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = i % 3;
        labels.push_back(c);
        for (int64_t y = 0; y < 8; ++y)
            for (int64_t x = 0; x < 8; ++x) {
                const bool on = (c == 0 && y < 4) || (c == 1 && x < 4);
                px[i * 64 + y * 8 + x] = (on ? 0.8f : -0.8f) + noise[i * 64 + y * 8 + x];
            }
    }
    images = Tensor::from_vector(px, {n, 1, 8, 8});
}

nn::ClassifierConfig small() {
    nn::ClassifierConfig c;
    c.image_size = 8, c.num_classes = 3, c.width = 4, c.features = 16;
    return c;
}

double accuracy(nn::Classifier& m, const Tensor& images, const std::vector<int64_t>& labels) {
    const std::vector<float> l = trainers::classify(m, images, false).to_vector();
    int64_t right = 0;
    for (size_t i = 0; i < labels.size(); ++i) {
        const float* r = &l[i * 3];
        right += (std::max_element(r, r + 3) - r) == labels[i];
    }
    return static_cast<double>(right) / static_cast<double>(labels.size());
}

}  // namespace

TEST_CASE("the classifier trainer learns a toy task and resumes bit for bit") {
    Tensor images;
    std::vector<int64_t> labels;
    toy_images(300, images, labels);
    trainers::ClassifierTrainConfig cfg;
    cfg.steps = 60, cfg.batch = 32, cfg.lr = 3e-3f, cfg.seed = 1;
    Generator init(0);
    nn::Classifier model(small(), init);
    const double before = accuracy(model, images, labels);
    trainers::ClassifierTrainer trainer(model, images, labels, cfg);
    std::vector<float> losses;
    trainer.train([&](const trainers::TrainProgress& p) {
        losses.push_back(p.loss);
        return p.step < 30;  // stop halfway
    });
    CHECK(trainer.steps_done() == 30);
    // through a file, as the CLI does (a checkpoint's tensors may share the live weights' storage)
    testing::TempDir dir;
    io::save_checkpoint(dir.file("half.safetensors"), trainer.checkpoint("{}"));
    const io::Checkpoint half = io::load_checkpoint(dir.file("half.safetensors"));
    trainer.train();
    CHECK(trainer.steps_done() == 60);
    const double after = accuracy(model, images, labels);
    MESSAGE("accuracy " << before << " -> " << after);
    CHECK(after > 0.9);
    CHECK(after > before + 0.3);

    // a fresh trainer restored from step 30 ends with the same weights
    Generator init2(9);
    nn::Classifier other(small(), init2);
    trainers::ClassifierTrainer resumed(other, images, labels, cfg);
    resumed.restore(half);
    CHECK(resumed.resumed_from() == 30);
    resumed.train();
    const auto a = model.parameters(), b = other.parameters();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(max_abs_diff(a[i], b[i]) == 0.0);
}

TEST_CASE("the classifier trainer runs EMO with each cost embedding and checks its inputs") {
    Tensor images;
    std::vector<int64_t> labels;
    toy_images(60, images, labels);
    Generator init(0);
    nn::Classifier model(small(), init);
    const Tensor head = emo_cost_embedding(trainers::classifier_head_weight(model));
    const Tensor centroids = emo_cost_embedding(trainers::class_centroids(model, images, labels));
    CHECK(centroids.shape() == Shape{3, 16});
    for (const std::string cost : {"fixed", "adaptive", "centroids"}) {
        trainers::ClassifierTrainConfig cfg;
        cfg.steps = 3, cfg.batch = 8, cfg.loss = ClassifierLoss::ce_emo, cfg.cost = cost;
        trainers::ClassifierTrainer t(model, images, labels, cfg, cost == "centroids" ? centroids : head);
        t.train();
        CHECK(t.steps_done() == 3);
    }
    trainers::ClassifierTrainConfig cfg;
    cfg.loss = ClassifierLoss::emo;
    CHECK_THROWS_WITH_AS(trainers::ClassifierTrainer(model, images, labels, cfg), doctest::Contains("needs that embedding"),
                         Error);
    cfg.cost = "spherical";
    CHECK_THROWS_WITH_AS(trainers::ClassifierTrainer(model, images, labels, cfg), doctest::Contains("'spherical'"), Error);
    std::vector<int64_t> short_labels(labels.begin(), labels.begin() + 10);
    CHECK_THROWS_WITH_AS(trainers::ClassifierTrainer(model, images, short_labels, trainers::ClassifierTrainConfig{}),
                         doctest::Contains("10 labels for 60 images"), Error);
    std::vector<int64_t> bad = labels;
    bad[0] = 7;
    CHECK_THROWS_WITH_AS(trainers::class_centroids(model, images, bad), doctest::Contains("label 7"), Error);
}
