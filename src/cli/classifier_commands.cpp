// `rflow train-classifier`: trains the Fashion-MNIST evaluation classifier, or fine-tunes one
// (--init), with cross-entropy, EMO (SPEC §7) or the two official combinations (--loss). EMO's cost
// embedding, row-normalised: the output layer's weight rows, a frozen copy of --init's ("fixed") or
// the current ones, detached ("adaptive") as in the EMO paper; or ("centroids", rflow's addition) the
// class means of --init's penultimate features over the training set, which put similar garments
// close (a cross-entropy head keeps its rows nearly orthogonal, so its costs are all near 1).
// Besides accuracy it reports what mistakes cost: the mean 1 - cos(e_pred, e_true) of the
// misclassified test images under a reference embedding (--init's class centroids when given, else
// the trained head), and the share of mistakes that leave their garment group (tops, trousers,
// footwear, bags), so "shirt for T-shirt" and "shirt for bag" are told apart.
#include "classifier_commands.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "flag_checks.hpp"
#include "progress.hpp"
#include "rflow/data/idx.hpp"
#include "rflow/emo_loss.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/nn/classifier.hpp"
#include "rflow/ops.hpp"
#include "rflow/optim/adam.hpp"
#include "rflow/optim/schedule.hpp"

namespace rflow::cli {

namespace fs = std::filesystem;

namespace {

struct ClassifierFlags {
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
    int64_t steps = 1500;
    int64_t batch = 128;
    float lr = 1e-3f;
    uint64_t seed = 0;
    std::string output = "out/classifier";
    int threads = 0;
    std::string init;                  // fine-tune this classifier
    std::string loss = "ce";           // ce | emo | ce+emo | emo+ce
    std::string cost = "fixed";        // fixed | adaptive
};

/// Fashion-MNIST garment groups: tops (T-shirt, pullover, dress, coat, shirt), trousers, footwear
/// (sandal, sneaker, ankle boot), bags.
constexpr int kGroup[10] = {0, 1, 0, 0, 0, 2, 0, 2, 3, 2};

Tensor head_weight(const nn::Classifier& m) {
    for (const auto& [name, t] : m.named_parameters())
        if (name == "fc2.weight") return t;
    throw Error("classifier has no fc2.weight");
}

/// Class means of the classifier's penultimate features over (up to 20,000 of) the training images.
Tensor class_centroids(nn::Classifier& model, const data::MnistSplit& train) {
    const int64_t n = std::min<int64_t>(train.images.size(0), 20000);
    model.eval();
    const Tensor feats = classify(model, train.images.slice(0, 0, n), true);
    model.train();
    const int64_t k = model.config().num_classes, d = feats.size(1);
    std::vector<double> sums(static_cast<size_t>(k * d), 0.0);
    std::vector<int64_t> counts(static_cast<size_t>(k), 0);
    const std::vector<float> f = feats.to_vector();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = train.labels[i];
        ++counts[c];
        for (int64_t j = 0; j < d; ++j) sums[c * d + j] += f[i * d + j];
    }
    std::vector<float> mean(static_cast<size_t>(k * d));
    for (int64_t c = 0; c < k; ++c) {
        if (counts[c] == 0) throw BadInput("class " + std::to_string(c) + " has no training images");
        for (int64_t j = 0; j < d; ++j) mean[c * d + j] = static_cast<float>(sums[c * d + j] / counts[c]);
    }
    return Tensor::from_vector(mean, {k, d});
}

struct MistakeStats {
    double accuracy = 0, mean_cost = 0, cross_group = 0;
    int64_t mistakes = 0;
};

/// Accuracy, mean semantic cost of mistakes under the normalised embedding `cost`, cross-group share.
MistakeStats evaluate(nn::Classifier& model, const data::MnistSplit& test, const Tensor& cost) {
    model.eval();
    const std::vector<float> l = classify(model, test.images, false).to_vector();
    const std::vector<float> e = cost.to_vector();
    const int64_t classes = cost.size(0), d = cost.size(1), n = test.images.size(0);
    MistakeStats s;
    for (int64_t i = 0; i < n; ++i) {
        const float* row = &l[i * classes];
        const int64_t pred = std::max_element(row, row + classes) - row, truth = test.labels[i];
        if (pred == truth) {
            s.accuracy += 1;
            continue;
        }
        double dot = 0;  // rows of `cost` are unit vectors: c = 1 - <e_pred, e_true>
        for (int64_t k = 0; k < d; ++k) dot += double(e[pred * d + k]) * e[truth * d + k];
        s.mean_cost += 1 - dot;
        s.cross_group += kGroup[pred] != kGroup[truth];
        ++s.mistakes;
    }
    s.accuracy /= static_cast<double>(n);
    if (s.mistakes) s.mean_cost /= static_cast<double>(s.mistakes), s.cross_group /= static_cast<double>(s.mistakes);
    model.train();
    return s;
}

int run_train_classifier(const ClassifierFlags& f) {
    if (f.threads > 0) set_num_threads(f.threads);
    const ClassifierLoss kind = as_input([&] { return classifier_loss(f.loss); });
    if (f.cost != "fixed" && f.cost != "adaptive" && f.cost != "centroids")
        throw BadInput("--cost-embedding: '" + f.cost + "' is not fixed, adaptive or centroids");
    if (kind != ClassifierLoss::ce && f.cost != "adaptive" && f.init.empty())
        throw BadInput("--loss " + f.loss + " with a " + f.cost + " cost embedding needs --init (a trained "
                       "classifier that gives the costs); or use --cost-embedding adaptive");
    data::MnistSplit train = as_input([&] { return data::load_fashion_mnist(f.data_dir, true); });
    data::MnistSplit test = as_input([&] { return data::load_fashion_mnist(f.data_dir, false); });
    Generator g(f.seed, 0), batches(f.seed, 1);
    std::unique_ptr<nn::Classifier> model;
    if (!f.init.empty()) {
        model = load_classifier(f.init);
        model->train();
    } else {
        model = std::make_unique<nn::Classifier>(nn::ClassifierConfig{}, g);
    }
    const nn::ClassifierConfig cc = model->config();
    // frozen embeddings from --init: its head, and its class centroids (the reference for reporting)
    Tensor init_head, reference;
    if (!f.init.empty()) {
        init_head = emo_cost_embedding(head_weight(*model));
        reference = emo_cost_embedding(class_centroids(*model, train));
    }
    const std::vector<std::string>& names = data::fashion_mnist_class_names();
    MistakeStats before;
    if (reference.defined()) {
        before = evaluate(*model, test, reference);
        std::printf("--init %s: test accuracy %.4f, mean cost of mistakes %.4f, cross-group %.3f\n", f.init.c_str(),
                    before.accuracy, before.mean_cost, before.cross_group);
        const std::vector<float> e = reference.to_vector();
        auto cost_of = [&](int a, int b) {
            double dot = 0;
            for (int64_t k = 0; k < reference.size(1); ++k) dot += double(e[a * reference.size(1) + k]) * e[b * reference.size(1) + k];
            return 1 - dot;
        };
        std::printf("semantic costs from its class centroids: %s/%s %.3f, %s/%s %.3f, %s/%s %.3f\n", names[6].c_str(),
                    names[0].c_str(), cost_of(6, 0), names[6].c_str(), names[8].c_str(), cost_of(6, 8),
                    names[7].c_str(), names[9].c_str(), cost_of(7, 9));
    }
    optim::AdamOptions ao;
    ao.lr = f.lr;
    optim::Adam opt(model->parameters(), ao);
    optim::WarmupCosineSchedule schedule(f.steps / 50, f.steps, 0.02f);  // cosine decay to 2% of lr
    fs::create_directories(f.output);
    Progress bar("train-classifier", f.steps, 100);
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t step = 1; step <= f.steps; ++step) {
        std::vector<int64_t> idx(f.batch);
        batches.randint(idx.data(), f.batch, 0, train.images.size(0));
        std::vector<int64_t> labels;
        for (int64_t i : idx) labels.push_back(train.labels[i]);
        optim::apply_schedule(opt, schedule, step, {f.lr});
        opt.zero_grad();
        const Tensor cost = kind == ClassifierLoss::ce ? Tensor()
                            : f.cost == "fixed"        ? init_head
                            : f.cost == "centroids"    ? reference
                                                       : emo_cost_embedding(head_weight(*model));
        Tensor loss = classifier_objective(kind, model->forward(index_select(train.images, 0, idx)), labels, cost);
        const float value = loss.item();
        if (!std::isfinite(value)) throw Error("non-finite classifier loss at step " + std::to_string(step));
        loss.backward();
        opt.step();
        bar.update(step, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                   "loss " + fmt("%.4f", value));
    }
    bar.finish();
    if (!reference.defined()) reference = emo_cost_embedding(head_weight(*model));
    const MistakeStats after = evaluate(*model, test, reference);
    model->eval();
    nlohmann::json config = {{"classifier_config", nlohmann::json::parse(rflow::classifier_config_json(cc))},
                             {"dataset", "fashion-mnist"}, {"test_accuracy", after.accuracy}, {"steps", f.steps},
                             {"loss", f.loss}, {"init", f.init}};
    io::Checkpoint c;
    c.model = model->state_dict();
    c.config = config.dump();
    c.step = f.steps;
    const std::string path = (fs::path(f.output) / "classifier.safetensors").string();
    io::save_checkpoint(path, c);
    const nlohmann::json report = {{"loss", f.loss},
                                   {"cost_embedding", kind == ClassifierLoss::ce ? "none" : f.cost},
                                   {"init", f.init},
                                   {"steps", f.steps},
                                   {"lr", f.lr},
                                   {"test_accuracy", after.accuracy},
                                   {"mistakes", after.mistakes},
                                   {"mean_mistake_cost", after.mean_cost},
                                   {"cross_group_mistakes", after.cross_group},
                                   {"reference", f.init.empty() ? "trained head" : "init class centroids"}};
    const std::string text = report.dump() + "\n";
    io::write_file_atomic((fs::path(f.output) / "metrics.json").string(), text.data(), text.size());
    std::printf("test accuracy %.4f (%lld mistakes), mean cost of mistakes %.4f, cross-group %.3f\nwrote %s\n",
                after.accuracy, static_cast<long long>(after.mistakes), after.mean_cost, after.cross_group, path.c_str());
    return 0;
}

}  // namespace

std::function<int()> add_classifier_commands(CLI::App& app) {
    auto f = std::make_shared<ClassifierFlags>();
    CLI::App* k = app.add_subcommand("train-classifier",
                                     "Train (or fine-tune with --init) the Fashion-MNIST classifier used by image eval, "
                                     "with cross-entropy or EMO");
    k->add_option("--data-dir", f->data_dir, "Where the Fashion-MNIST IDX files are")->capture_default_str();
    k->add_option("--steps", f->steps, "Optimisation steps")->capture_default_str()->transform(count_in(1, kMaxSteps));
    k->add_option("--batch-size", f->batch, "Batch size")->capture_default_str()->transform(count_in(1, kMaxBatch));
    k->add_option("--lr", f->lr, "Adam learning rate")->capture_default_str()->check(finite_positive());
    add_seed_option(k, f->seed, "Seed");
    k->add_option("-o,--output", f->output, "Directory for classifier.safetensors and metrics.json")
        ->capture_default_str();
    k->add_option("--threads", f->threads, "CPU threads (0 = all cores)")->capture_default_str()->transform(count_in(0, kMaxThreads));
    k->add_option("--init", f->init, "Fine-tune this classifier (from rflow train-classifier) instead of a new one");
    k->add_option("--loss", f->loss,
                  "ce | emo | ce+emo (value of CE, gradient half CE half rescaled EMO) | emo+ce (EMO plus rescaled CE)")
        ->capture_default_str();
    k->add_option("--cost-embedding", f->cost,
                  "EMO costs 1 - cos(e_i, e_j): fixed (--init's output layer, frozen), adaptive (the current "
                  "output layer, detached) or centroids (--init's class means of its penultimate features)")
        ->capture_default_str();
    return [=]() -> int { return k->parsed() ? run_train_classifier(*f) : -1; };
}

}  // namespace rflow::cli
