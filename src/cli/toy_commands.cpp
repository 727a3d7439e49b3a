// `rflow train-toy` and `rflow sample-toy`: flow matching on toy 2-D data, end to end.
//
// train-toy writes into --out-dir: checkpoint.safetensors (model, Adam state, RNG, step, config;
// atomically, periodically and at the end), metrics.jsonl (one JSON object per logged step),
// samples.png (data beside Euler samples, settings in the footer) and loss.png.
#include "toy_commands.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_common.hpp"
#include "progress.hpp"
#include "rflow/autograd.hpp"
#include "rflow/data/toy2d.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/plot.hpp"
#include "rflow/metrics.hpp"
#include "rflow/optim/adam.hpp"
#include "rflow/samplers/euler.hpp"
#include "rflow/trainers/flow_matching.hpp"

namespace rflow::cli {

namespace fs = std::filesystem;

namespace {

Tensor euler_samples(nn::VelocityMLP& model, int64_t n, int steps, uint64_t seed) {
    NoGradGuard ng;
    Generator g(seed, 2);
    Tensor x0 = Tensor::normal({n, model.config().data_dim}, g);
    return samplers::sample_euler([&](const Tensor& x, const Tensor& t) { return model.forward(x, t); }, x0, steps);
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// Sliced-Wasserstein distance of samples (and of the noise they came from) to fresh data.
std::pair<double, double> quality(const std::string& dataset, const Tensor& samples, uint64_t seed) {
    Generator dg(seed, 3), pg(seed, 4), ng(seed, 2);
    Tensor data = data::sample_toy(dataset, samples.size(0), dg);
    Tensor noise = Tensor::normal(samples.shape(), ng);
    const double sw_samples = sliced_wasserstein(samples, data, pg);
    Generator pg2(seed, 4);
    return {sw_samples, sliced_wasserstein(noise, data, pg2)};
}

}  // namespace

void add_toy_commands(CLI::App& app, ToyTrainArgs& tr, ToySampleArgs& sa) {
    std::string datasets;
    for (const auto& n : data::toy_dataset_names()) datasets += (datasets.empty() ? "" : ", ") + n;
    CLI::App* train = app.add_subcommand("train-toy", "Train a flow-matching MLP on toy 2-D data and plot its samples");
    train->add_option("--dataset", tr.dataset, "Toy distribution: " + datasets)->capture_default_str();
    train->add_option("--steps", tr.train.steps, "Optimisation steps")->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--batch", tr.train.batch, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--lr", tr.lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--hidden", tr.model.hidden, "Hidden width")->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--depth", tr.model.depth, "Hidden layers")->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--activation", tr.model.activation, "relu, silu, gelu, tanh, sigmoid, softplus")->capture_default_str();
    train->add_option("--time-embedding", tr.model.time_embedding, "none, sinusoidal or fourier")->capture_default_str();
    train->add_option("--seed", tr.train.seed, "Seed of initialisation, data, noise and times")->capture_default_str();
    train->add_option("--grad-clip", tr.train.grad_clip, "Clip the global gradient norm (0 = off)")->capture_default_str();
    train->add_option("--out-dir", tr.out_dir, "Where checkpoint, metrics and pictures go")->capture_default_str();
    train->add_option("--checkpoint-every", tr.checkpoint_every, "Steps between checkpoints (0 = only at the end)")
        ->capture_default_str();
    train->add_option("--log-every", tr.log_every, "Steps between metrics lines")->capture_default_str();
    train->add_option("--sample-steps", tr.sample_steps, "Euler steps for the final samples")->capture_default_str();
    train->add_option("--num-samples", tr.num_samples, "Points in the sample picture")->capture_default_str();
    train->add_option("--threads", tr.threads, "CPU threads for matrix products (0 = default)")->capture_default_str();
    train->add_flag("--resume", tr.resume, "Continue from <out-dir>/checkpoint.safetensors");

    CLI::App* sample = app.add_subcommand("sample-toy", "Sample a trained toy model with Euler and plot the samples");
    sample->add_option("--checkpoint", sa.checkpoint, "A checkpoint written by train-toy")->required();
    sample->add_option("--out", sa.out, "PNG to write")->capture_default_str();
    sample->add_option("--steps", sa.steps, "Euler steps")->capture_default_str()->check(CLI::PositiveNumber);
    sample->add_option("--num-samples", sa.num_samples, "Number of samples")->capture_default_str()->check(CLI::PositiveNumber);
    sample->add_option("--seed", sa.seed, "Seed of the starting noise")->capture_default_str();
    sample->add_option("--dataset", sa.dataset, "Reference data panel (default: the training dataset)");
}

int run_train_toy(const ToyTrainArgs& a) {
    if (a.threads > 0) set_num_threads(a.threads);
    as_input([&] { return data::sample_toy(a.dataset, 1, *std::make_unique<Generator>(0)); });  // validates the name
    fs::create_directories(a.out_dir);
    const std::string ckpt_path = (fs::path(a.out_dir) / "checkpoint.safetensors").string();
    const std::string metrics_path = (fs::path(a.out_dir) / "metrics.jsonl").string();

    Generator init(a.train.seed, 0);
    nn::VelocityMLP model = as_input([&] { return nn::VelocityMLP(a.model, init); });
    optim::AdamOptions adam;
    adam.lr = a.lr;
    optim::Adam opt(model.parameters(), adam);
    const std::string dataset = a.dataset;
    trainers::FlowMatchingTrainer trainer(
        model, opt, [dataset](int64_t n, Generator& g) { return data::sample_toy(dataset, n, g); }, a.train);

    nlohmann::json config = {{"model_config", model_config_json(a.model)}, {"dataset", a.dataset},
                             {"lr", a.lr}, {"batch", a.train.batch}, {"steps", a.train.steps}, {"seed", a.train.seed}};
    if (a.resume) {
        io::Checkpoint c = as_input([&] { return io::load_checkpoint(ckpt_path); });
        as_input([&] { trainer.restore(c); return 0; });
        std::fprintf(stderr, "resumed from %s at step %lld\n", ckpt_path.c_str(), static_cast<long long>(c.step));
    }
    std::ofstream metrics(metrics_path, a.resume ? std::ios::app : std::ios::trunc);
    if (!metrics) throw Error("cannot write " + metrics_path);

    std::fprintf(stderr, "training flow matching on %s: %lld parameters, %lld steps, batch %lld\n", a.dataset.c_str(),
                 static_cast<long long>(model.num_parameters()), static_cast<long long>(a.train.steps),
                 static_cast<long long>(a.train.batch));
    Progress bar("train-toy", a.train.steps, a.log_every);
    double window = 0;
    int64_t window_n = 0;
    trainer.train([&](const trainers::TrainProgress& p) {
        window += p.loss;
        ++window_n;
        bar.update(p.step, p.elapsed_s, "loss " + fmt("%.4f", p.loss));
        if (p.step % a.log_every == 0 || p.step == p.total) {
            metrics << nlohmann::json{{"step", p.step}, {"loss", window / window_n}, {"elapsed_s", p.elapsed_s}}.dump()
                    << "\n" << std::flush;
            window = 0;
            window_n = 0;
        }
        if (a.checkpoint_every > 0 && p.step % a.checkpoint_every == 0 && p.step != p.total)
            io::save_checkpoint(ckpt_path, trainer.checkpoint(config.dump()));
        return true;
    });
    bar.finish();
    io::save_checkpoint(ckpt_path, trainer.checkpoint(config.dump()));

    Tensor samples = euler_samples(model, a.num_samples, a.sample_steps, a.train.seed + 1);
    auto [sw, sw_noise] = quality(a.dataset, samples, a.train.seed + 1);
    metrics << nlohmann::json{{"step", trainer.steps_done()}, {"sliced_w2_samples", sw}, {"sliced_w2_noise", sw_noise},
                              {"euler_steps", a.sample_steps}}.dump()
            << "\n";
    Generator dg(a.train.seed + 1, 3);
    const std::string footer = "rflow flow matching | " + a.dataset + " | seed " + std::to_string(a.train.seed) +
                               " | steps " + std::to_string(trainer.steps_done()) + " | euler " +
                               std::to_string(a.sample_steps) + " | sliced W2 " + fmt("%.3f", sw) + " (noise " +
                               fmt("%.3f", sw_noise) + ")";
    const std::string png = (fs::path(a.out_dir) / "samples.png").string();
    io::write_scatter_png(png, {{"data (" + a.dataset + ")", data::sample_toy(a.dataset, a.num_samples, dg), {90, 90, 90}},
                                {"samples (Euler, " + std::to_string(a.sample_steps) + " steps)", samples, {31, 119, 180}}},
                          6.f, 400, footer);
    if (!trainer.losses().empty())
        io::write_curve_png((fs::path(a.out_dir) / "loss.png").string(), "flow-matching loss", trainer.losses());
    std::printf("sliced W2 to data: samples %.4f, noise %.4f\nwrote %s, %s, %s\n", sw, sw_noise, png.c_str(),
                ckpt_path.c_str(), metrics_path.c_str());
    return 0;
}

int run_sample_toy(const ToySampleArgs& a) {
    io::Checkpoint c = as_input([&] { return io::load_checkpoint(a.checkpoint); });
    nlohmann::json config = as_input([&] {
        try {
            return nlohmann::json::parse(c.config);
        } catch (const nlohmann::json::exception&) {
            throw BadInput(a.checkpoint + ": metadata 'config' is not JSON");
        }
    });
    if (!config.contains("model_config")) throw BadInput(a.checkpoint + ": config lacks 'model_config'");
    nn::VelocityMLPConfig mc = model_config_from_json(config["model_config"], a.checkpoint);
    Generator init(0, 0);
    nn::VelocityMLP model(mc, init);
    as_input([&] { model.load_state_dict(c.model); return 0; });
    const std::string dataset = !a.dataset.empty() ? a.dataset : config.value("dataset", std::string("8gaussians"));
    Tensor samples = euler_samples(model, a.num_samples, a.steps, a.seed);
    Generator dg(a.seed, 3);
    Tensor data = as_input([&] { return data::sample_toy(dataset, a.num_samples, dg); });
    auto [sw, sw_noise] = quality(dataset, samples, a.seed);
    const std::string footer = "rflow | " + a.checkpoint + " | seed " + std::to_string(a.seed) + " | euler " +
                               std::to_string(a.steps) + " | sliced W2 " + fmt("%.3f", sw);
    io::write_scatter_png(a.out, {{"data (" + dataset + ")", data, {90, 90, 90}},
                                  {"samples (Euler, " + std::to_string(a.steps) + " steps)", samples, {31, 119, 180}}},
                          6.f, 400, footer);
    std::printf("sliced W2 to data: samples %.4f, noise %.4f\nwrote %s\n", sw, sw_noise, a.out.c_str());
    return 0;
}

}  // namespace rflow::cli
