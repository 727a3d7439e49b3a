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
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "flag_checks.hpp"
#include "training_run.hpp"
#include "rflow/data/idx.hpp"
#include "rflow/emo_loss.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/dist.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/nn/classifier.hpp"
#include "rflow/ops.hpp"
#include "rflow/trainers/classifier_trainer.hpp"

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
    std::string init;                  // fine-tune this classifier
    std::string loss = "ce";           // ce | emo | ce+emo | emo+ce
    std::string cost = "fixed";        // fixed | adaptive | centroids
    RunOptions run = [] {
        RunOptions o = run_defaults(100, 0);
        o.checkpoint_name = "classifier.safetensors";
        return o;
    }();
};

/// Fashion-MNIST garment groups: tops (T-shirt, pullover, dress, coat, shirt), trousers, footwear
/// (sandal, sneaker, ankle boot), bags.
constexpr int kGroup[10] = {0, 1, 0, 0, 0, 2, 0, 2, 3, 2};

struct MistakeStats {
    double accuracy = 0, mean_cost = 0, cross_group = 0;
    int64_t mistakes = 0;
};

/// Accuracy, mean semantic cost of mistakes under the normalised embedding `cost`, cross-group share.
MistakeStats evaluate(nn::Classifier& model, const data::MnistSplit& test, const Tensor& cost) {
    model.eval();
    const std::vector<float> l = trainers::classify(model, test.images, false).to_vector();
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
    check_batch_for_ranks(f.batch);  // under mpirun each rank trains on its share of every batch
    const ClassifierLoss kind = as_input([&] { return classifier_loss(f.loss); });
    if (f.cost != "fixed" && f.cost != "adaptive" && f.cost != "centroids")
        throw BadInput("--cost-embedding: '" + f.cost + "' is not fixed, adaptive or centroids");
    if (kind != ClassifierLoss::ce && f.cost != "adaptive" && f.init.empty())
        throw BadInput("--loss " + f.loss + " with a " + f.cost + " cost embedding needs --init (a trained "
                       "classifier that gives the costs); or use --cost-embedding adaptive");
    data::MnistSplit train = as_input([&] { return data::load_fashion_mnist(f.data_dir, true); });
    data::MnistSplit test = as_input([&] { return data::load_fashion_mnist(f.data_dir, false); });
    Generator g(f.seed, 0);
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
        init_head = emo_cost_embedding(trainers::classifier_head_weight(*model));
        reference = emo_cost_embedding(as_input([&] { return trainers::class_centroids(*model, train.images, train.labels); }));
    }
    const std::vector<std::string>& names = data::fashion_mnist_class_names();
    if (reference.defined() && dist::is_root()) {
        const MistakeStats before = evaluate(*model, test, reference);
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
    trainers::ClassifierTrainConfig tc;
    tc.steps = f.steps;
    tc.batch = f.batch;
    tc.lr = f.lr;
    tc.seed = f.seed;
    tc.loss = kind;
    tc.cost = f.cost;
    trainers::ClassifierTrainer trainer(*model, train.images, train.labels, tc,
                                        f.cost == "fixed" ? init_head : f.cost == "centroids" ? reference : Tensor());
    // the config is what rebuilds the classifier (load_classifier) and what a resume must match
    const nlohmann::json config = {{"classifier_config", nlohmann::json::parse(rflow::classifier_config_json(cc))},
                                   {"dataset", "fashion-mnist"}, {"steps", f.steps}, {"batch_size", f.batch},
                                   {"lr", f.lr}, {"seed", f.seed}, {"loss", f.loss},
                                   {"cost_embedding", kind == ClassifierLoss::ce ? "none" : f.cost}, {"init", f.init}};
    RunOptions ro = f.run;
    ro.label = "train-classifier";
    ro.output = f.output;
    ro.total_steps = f.steps;
    TrainingRun run(ro, config);
    run.resume({"classifier_config", "loss", "cost_embedding", "init", "batch_size", "lr", "seed"},
               [&](const io::Checkpoint& c) { trainer.restore(c); });
    const auto checkpoint = [&] { return trainer.checkpoint(run.config_json()); };
    try {
        trainer.train([&](const trainers::TrainProgress& p) {
            return run.after_step(p.step, p.elapsed_s, {{"loss", p.loss}}, checkpoint);
        });
        run.finish(checkpoint());
    } catch (const trainers::NonFiniteError& e) {
        throw Error(run.diverged(e.what(), trainer.resumed_from()));
    }
    if (!dist::is_root()) return 0;  // rank 0 evaluates and writes
    if (!reference.defined()) reference = emo_cost_embedding(trainers::classifier_head_weight(*model));
    const MistakeStats after = evaluate(*model, test, reference);
    model->eval();
    const std::string& path = run.checkpoint_path();
    const nlohmann::json report = {{"loss", f.loss},
                                   {"cost_embedding", kind == ClassifierLoss::ce ? "none" : f.cost},
                                   {"init", f.init},
                                   {"steps", trainer.steps_done()},
                                   {"lr", f.lr},
                                   {"test_accuracy", after.accuracy},
                                   {"mistakes", after.mistakes},
                                   {"mean_mistake_cost", after.mean_cost},
                                   {"cross_group_mistakes", after.cross_group},
                                   {"reference", f.init.empty() ? "trained head" : "init class centroids"}};
    run.log({{"step", trainer.steps_done()}, {"test_accuracy", after.accuracy}, {"mean_mistake_cost", after.mean_cost}});
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
    k->add_option("-o,--output", f->output, "Directory for classifier.safetensors, metrics.jsonl and metrics.json")
        ->capture_default_str();
    add_threads_flag(k);
    add_run_flags(k, f->run);
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
