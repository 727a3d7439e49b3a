// `rflow gan train`: a generator against a critic (methods wgan-gp, zero-centered = variant B,
// reflow-gan = variant A; SPEC section 1) on a toy 2-D dataset, a CSV of points or Fashion-MNIST.
// Writes into -o/--output: checkpoint.safetensors (generator, critic, both optimizers, RNG, step,
// config; periodic and final, atomic), metrics.jsonl (losses every --log-every steps, sliced W2 or
// a sample grid every --eval-every steps), samples.png (points over the critic's field, or an
// image grid) and loss.png. `rflow gan sample` rebuilds the generator from the checkpoint.
#include "gan_commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "flow_training.hpp"
#include "rflow/autograd.hpp"
#include "rflow/data/csv.hpp"
#include "rflow/data/idx.hpp"
#include "rflow/data/toy2d.hpp"
#include "rflow/nn/activation.hpp"
#include "rflow/optim/ema.hpp"
#include "rflow/nn/critic.hpp"
#include "rflow/trainers/gan_trainer.hpp"
#include "rflow/nn/conv_generator.hpp"
#include "rflow/dist.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/image.hpp"
#include "rflow/io/plot.hpp"
#include "rflow/metrics.hpp"
#include "flag_checks.hpp"
#include "rflow/nn/mlp.hpp"
#include "rflow/nn/unet.hpp"
#include "rflow/nn/velocity_mlp.hpp"
#include "rflow/ops.hpp"
#include "rflow/optim/adam.hpp"

namespace rflow::cli {

namespace fs = std::filesystem;

namespace {

struct GanFlags {
    DataSpec data;
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
    trainers::GANConfig train;
    float lr = 1e-4f, critic_lr = 0.f, beta1 = 0.5f, beta2 = 0.9f;
    int64_t hidden = 512, depth = 3, latent_dim = 0, base_channels = 32;
    std::string activation;  // empty: relu for wgan-gp (the paper's nets), silu otherwise
    float lambda = 0.f;      // wgan-gp penalty weight; 0: 0.1 for points, 10 for images (gan_lambda)
    std::string output = "out/gan";
    int64_t eval_every = 1000, num_samples = 10000;
    RunOptions run = run_defaults(100, 1000);
};

struct SampleFlags {
    std::string model;
    int64_t n = 2000;
    uint64_t seed = 0;
    std::string output = "gan_samples.png";
};

bool is_image_dataset(const DataSpec& d) { return d.csv.empty() && d.dataset == "fashion-mnist"; }

// Generator and critic rebuilt from the checkpoint's config.
struct GanModels {
    std::shared_ptr<nn::Module> generator, critic;
    nn::Critic* scalar = nullptr;
    nn::VelocityModel* field = nullptr;
    bool image = false;
    int64_t latent_dim = 0;
};

// --activation, or the method's default: ReLU for WGAN-GP (Gulrajani et al.'s toy networks; with
// SiLU the one-centred penalty oscillates, docs/gan-results.md), SiLU for the ReFlow-derived GANs.
std::string gan_activation(const GanFlags& f) {
    if (!f.activation.empty()) return f.activation;
    return f.train.method == "wgan-gp" ? "relu" : "silu";
}

nlohmann::json gan_config(const GanFlags& f) {
    const bool image = is_image_dataset(f.data);
    nlohmann::json c = {{"kind", "gan"},
                        {"method", f.train.method},
                        {"image", image},
                        {"latent_dim", f.latent_dim > 0 ? f.latent_dim : (image ? 64 : 2)},
                        {"hidden", f.hidden},
                        {"depth", f.depth},
                        {"base_channels", f.base_channels},
                        {"activation", gan_activation(f)}};
    if (f.data.csv.empty()) c["dataset"] = f.data.dataset;
    else c["data_csv"] = f.data.csv;
    return c;
}

template <class T>
T get_key(const nlohmann::json& j, const char* key, const std::string& source) {
    if (!j.contains(key)) throw BadInput(source + ": config has no '" + key + "'");
    try {
        return j[key].get<T>();
    } catch (const nlohmann::json::exception&) {
        throw BadInput(source + ": config key '" + key + "' has the wrong type");
    }
}

GanModels build_models(const nlohmann::json& c, Generator& init, const std::string& source) {
    GanModels m;
    const std::string method = get_key<std::string>(c, "method", source);
    m.image = get_key<bool>(c, "image", source);
    m.latent_dim = get_key<int64_t>(c, "latent_dim", source);
    const int64_t hidden = get_key<int64_t>(c, "hidden", source), depth = get_key<int64_t>(c, "depth", source);
    const int64_t base = get_key<int64_t>(c, "base_channels", source);
    // checkpoints written before --activation existed used SiLU everywhere
    const std::string act = c.contains("activation") ? get_key<std::string>(c, "activation", source) : "silu";
    const std::vector<std::string> acts = nn::activation_names();
    if (std::find(acts.begin(), acts.end(), act) == acts.end())
        throw BadInput(source + ": config key 'activation' is " + shown_value(act) + ", not a known activation");
    if (m.latent_dim <= 0 || hidden <= 0 || depth <= 0 || base <= 0)
        throw BadInput(source + ": latent_dim, hidden, depth and base_channels must be > 0");
    if (m.image) {
        nn::ConvGeneratorConfig gc;
        gc.latent_dim = m.latent_dim;
        gc.base_channels = base;
        m.generator = std::make_shared<nn::ConvGenerator>(gc, init);
    } else {
        m.generator = std::make_shared<nn::MLP>(m.latent_dim, std::vector<int64_t>(depth, hidden), 2, init, act);
    }
    if (method == "reflow-gan") {
        std::shared_ptr<nn::VelocityModel> v;
        if (m.image) {
            nn::UNetConfig uc;
            uc.base_channels = base;
            uc.channel_mults = {1, 2};
            uc.res_blocks = 1;
            uc.attention_levels = {};
            uc.dropout = 0.f;
            v = std::make_shared<nn::UNet>(uc, init);
        } else {
            nn::VelocityMLPConfig vc;
            vc.hidden = hidden;
            vc.depth = depth;
            vc.activation = act;
            v = std::make_shared<nn::VelocityMLP>(vc, init);
        }
        m.field = v.get();
        m.critic = v;
    } else if (method == "wgan-gp" || method == "zero-centered") {
        std::shared_ptr<nn::Critic> d;
        if (m.image) {
            nn::ConvCriticConfig cc;
            cc.base_channels = base;
            cc.activation = act;
            d = std::make_shared<nn::ConvCritic>(cc, init);
        } else {
            nn::MLPCriticConfig cc;
            cc.hidden = std::vector<int64_t>(depth, hidden);
            cc.activation = act;
            d = std::make_shared<nn::MLPCritic>(cc, init);
        }
        m.scalar = d.get();
        m.critic = d;
    } else {
        throw BadInput(source + ": unknown GAN method '" + method + "' (known: wgan-gp, zero-centered, reflow-gan)");
    }
    return m;
}

// The critic's view of the plane for the picture: D(x), or |v(x, 0)| for a vector-field critic.
Tensor critic_field(const GanModels& m, float extent) {
    NoGradGuard ng;
    return io::field_grid(
        [&](const Tensor& pts) {
            const Tensor p = pts.to(m.critic->device());
            if (m.scalar) return m.scalar->forward(p).to(Device::cpu);
            const Tensor v = m.field->forward(p, Tensor::zeros({p.size(0)}, p.device()));
            return sqrt(sum(square(v), {1})).to(Device::cpu);
        },
        extent);
}

// --lambda, or WGAN-GP's default by data: 10 for images (the paper), 0.1 for 2-D points, as in the
// authors' toy script ("smaller lambda seems to help for toy tasks specifically"). On 8gaussians
// lambda 10 left the generator cycling (SW2 0.15-1.35 over seeds at 1000 steps), 0.1 settles it at
// 0.12 (docs/gan-results.md).
float gan_lambda(const GanFlags& f, bool image) { return f.lambda > 0.f ? f.lambda : (image ? 10.f : 0.1f); }

int run_gan_train(GanFlags& f) {
    check_batch_for_ranks(f.train.batch);
    const bool image = is_image_dataset(f.data);
    f.train.loss_options.lambda = gan_lambda(f, image);
    const double batch = static_cast<double>(f.train.batch);
    if (image) {  // convolutional generator and critic: a few levels up to 4 x base channels, 28 x 28 pixels
        const double c = static_cast<double>(f.base_channels);
        check_network_size("--base-channels " + std::to_string(f.base_channels) + " --batch-size " + std::to_string(f.train.batch),
                           2 * 9 * 16 * c * c * 3, batch * c * 28 * 28 * 6);
    } else {
        const double h = static_cast<double>(f.hidden), d = static_cast<double>(f.depth);
        check_network_size("--hidden " + std::to_string(f.hidden) + " --depth " + std::to_string(f.depth) + " --batch-size " +
                               std::to_string(f.train.batch),
                           2 * h * h * d, 2 * batch * h * (d + 2));
    }
    nlohmann::json config = gan_config(f);
    Generator init(f.train.seed, 0);
    GanModels m = build_models(config, init, "flags");
    m.generator->to(cli_device());
    m.critic->to(cli_device());
    f.train.latent_shape = {m.latent_dim};
    trainers::DataSource data;
    Tensor reference;  // toy: points for the metric and picture
    if (image) {
        data::MnistSplit s = as_input([&] { return data::load_fashion_mnist(f.data_dir, true); });
        data = [images = s.images](int64_t n, Generator& g) {
            std::vector<int64_t> idx(n);
            g.randint(idx.data(), n, 0, images.size(0));
            NoGradGuard ng;
            return index_select(images, 0, idx).contiguous();
        };
    } else {
        data = as_input([&] { return make_data_source(f.data); });
        reference = reference_points(f.data, f.num_samples, f.train.seed + 1);
    }
    // the metric's noise floor: sliced W2 between two independent draws of the data at this size
    double floor = 0;
    if (!image && f.data.csv.empty()) {
        Generator proj(f.train.seed + 1, 4);
        floor = sliced_wasserstein(reference, reference_points(f.data, f.num_samples, f.train.seed + 2), proj);
    }
    optim::AdamOptions go;
    go.lr = f.lr;
    go.beta1 = f.beta1;
    go.beta2 = f.beta2;
    optim::AdamOptions co = go;
    co.lr = f.critic_lr > 0 ? f.critic_lr : f.lr;
    optim::Adam gen_opt(m.generator->parameters(), go), critic_opt(m.critic->parameters(), co);
    std::unique_ptr<trainers::GANTrainer> trainer = as_input([&] {
        return m.scalar ? std::make_unique<trainers::GANTrainer>(*m.generator, *m.scalar, gen_opt, critic_opt, data, f.train)
                        : std::make_unique<trainers::GANTrainer>(*m.generator, *m.field, gen_opt, critic_opt, data, f.train);
    });
    // every setting that shapes the run: --resume refuses to continue with other values
    const nlohmann::json settings = {{"lr", f.lr},
                                     {"critic_lr", co.lr},
                                     {"beta1", f.beta1},
                                     {"beta2", f.beta2},
                                     {"batch_size", f.train.batch},
                                     {"n_critic", f.train.n_critic},
                                     {"n_gen", f.train.n_gen},
                                     {"epsilon", f.train.epsilon},
                                     {"lambda", f.train.loss_options.lambda},
                                     {"zero_weight", f.train.loss_options.zero_weight},
                                     {"seed", f.train.seed}};
    config.update(settings);
    if (f.train.ema_decay > 0.f) {  // absent when off, as in checkpoints from before the option
        config["ema"] = std::stod(fmt("%.7g", f.train.ema_decay));  // 0.99, not 0.9900000095
        config["ema_warmup"] = f.train.ema_warmup;
    }

    RunOptions ro = f.run;
    ro.label = "gan " + f.train.method;
    ro.output = f.output;
    ro.total_steps = f.train.steps;
    TrainingRun run(ro, config);
    const std::string& ckpt_path = run.checkpoint_path();
    const std::string png = (fs::path(f.output) / "samples.png").string();
    std::vector<std::string> keys{"method",     "image",  "dataset", "data_csv",      "latent_dim",
                                  "hidden",     "depth",  "base_channels", "activation", "ema",
                                  "ema_warmup"};
    for (const auto& kv : settings.items()) keys.push_back(kv.key());
    run.resume(keys, [&](const io::Checkpoint& c) { trainer->restore(c); });

    const float extent = image ? 0.f : plot_extent(reference);
    const auto picture_text = [&](int64_t step) -> io::PngText {
        return {{"rflow-model", ckpt_path}, {"method", f.train.method}, {"dataset", image ? "images" : f.data.name()},
                {"step", std::to_string(step)}, {"seed", std::to_string(f.train.seed + 1)}};
    };
    auto evaluate = [&](int64_t step) {
        Generator g(f.train.seed + 1, 7);
        if (image) {
            const Tensor grid = trainer->sample(64, g).to(Device::cpu);
            io::write_image_grid_png(png, grid, 8, 2, 2, png_parameters(picture_text(step)));
            run.log({{"step", step}, {"samples", png}});
            run.log_picture("samples", png, step);
            return std::string("grid");
        }
        const Tensor x = trainer->sample(f.num_samples, g).to(Device::cpu);
        Generator proj(f.train.seed + 1, 4);
        const double sw = sliced_wasserstein(x, reference, proj);
        run.log({{"step", step}, {"sliced_w2", sw}, {"sliced_w2_floor", floor}});
        const std::string footer = "rflow gan " + f.train.method + " | " + f.data.name() + " | seed " +
                                   std::to_string(f.train.seed) + " | step " + std::to_string(step) + " | sliced W2 " +
                                   fmt("%.4f", sw) + (floor > 0 ? " (data vs data " + fmt("%.4f", floor) + ")" : "");
        io::ScatterPanel data_panel{"data (" + f.data.name() + ")", reference, {90, 90, 90}};
        io::ScatterPanel gen_panel{std::string("generator over ") + (m.scalar ? "critic D(x)" : "|v(x, 0)|"), x,
                                   io::palette(0)};
        gen_panel.field = critic_field(m, extent);
        io::write_scatter_png(png, {data_panel, gen_panel}, extent, 400, footer, 0, png_parameters(picture_text(step)));
        run.log_picture("samples", png, step);
        return "sliced W2 " + fmt("%.4f", sw) + (floor > 0 ? " (floor " + fmt("%.4f", floor) + ")" : "");
    };

    if (dist::is_root())
        std::fprintf(stderr, "training %s GAN on %s: generator %lld, critic %lld parameters, %lld steps, batch %lld\n",
                     f.train.method.c_str(), f.data.name().c_str(), static_cast<long long>(m.generator->num_parameters()),
                     static_cast<long long>(m.critic->num_parameters()), static_cast<long long>(f.train.steps),
                     static_cast<long long>(f.train.batch));
    std::vector<float> critic_losses;
    std::string last_eval;
    int64_t evaluated_at = -1;
    const auto checkpoint = [&] { return trainer->checkpoint(run.config_json()); };
    try {
        trainer->train([&](const trainers::GANStepStats& s, double elapsed) {
            critic_losses.push_back(s.critic_loss);
            const bool go_on = run.after_step(s.step, elapsed,
                                              {{"critic_loss", s.critic_loss},
                                               {"wasserstein_gap", s.wasserstein_gap},
                                               {"penalty", s.penalty},
                                               {"generator_loss", s.generator_loss}},
                                              checkpoint, last_eval);
            if (dist::is_root() && f.eval_every > 0 && s.step % f.eval_every == 0) {  // rank 0 draws
                last_eval = evaluate(s.step);
                evaluated_at = s.step;
            }
            return go_on;
        });
        run.finish(checkpoint());
    } catch (const trainers::NonFiniteError& e) {
        throw Error(run.diverged(e.what(), -1));
    }
    if (!dist::is_root()) return 0;
    if (evaluated_at != trainer->steps_done()) last_eval = evaluate(trainer->steps_done());  // one row per step
    if (!critic_losses.empty())
        io::write_curve_png((fs::path(f.output) / "loss.png").string(), f.train.method + " critic loss", critic_losses,
                            false, 640, 360, png_parameters(picture_text(trainer->steps_done())),
                            trainer->steps_done() - static_cast<int64_t>(critic_losses.size()) + 1);
    std::printf("gan %s: %s after %lld generator steps\nwrote %s, %s, %s\n", f.train.method.c_str(), last_eval.c_str(),
                static_cast<long long>(trainer->steps_done()), ckpt_path.c_str(), png.c_str(),
                run.metrics_path().c_str());
    return 0;
}

int run_gan_sample(const SampleFlags& f) {
    io::Checkpoint c = as_input([&] { return io::load_checkpoint(f.model); });
    const nlohmann::json config = nlohmann::json::parse(c.config, nullptr, false);
    if (!config.is_object() || config.value("kind", std::string()) != "gan")
        throw BadInput(f.model + ": not a GAN checkpoint (written by `rflow gan train`)");
    Generator init(0, 0);
    GanModels m = build_models(config, init, f.model);
    try {
        m.generator->load_state_dict(io::strip_prefix(c.model, "generator."));
    } catch (const Error& e) {
        throw BadInput(f.model + ": generator weights: " + e.what());
    }
    if (config.contains("ema")) {  // sample the averaged generator, as training's pictures did
        try {
            std::vector<Tensor> params = m.generator->parameters();
            optim::Ema ema(params, 0.f);
            ema.load_state(io::strip_prefix(c.optimizer, "generator_ema."));
            ema.copy_to(params);
        } catch (const Error& e) {
            throw BadInput(f.model + ": generator EMA: " + e.what());
        }
    }
    const std::string ext = fs::path(f.output).extension().string();
    if (ext != ".png" && (m.image || ext != ".csv"))
        throw BadInput("-o/--output must end in .png" + std::string(m.image ? "" : " or .csv") + ", got '" + f.output + "'");
    m.generator->to(cli_device());
    Generator g(f.seed, 7);
    Tensor x;
    {
        NoGradGuard ng;  // z drawn on the host: the same samples on every device
        x = m.generator->forward(Tensor::normal({f.n, m.latent_dim}, g).to(m.generator->device())).to(Device::cpu);
    }
    const std::string settings = "model " + f.model + " | method " + config.value("method", std::string()) + " | seed " +
                                 std::to_string(f.seed) + " | step " + std::to_string(c.step);
    const io::PngText text{{"rflow-model", f.model},
                           {"method", config.value("method", std::string())},
                           {"seed", std::to_string(f.seed)},
                           {"step", std::to_string(c.step)}};
    if (m.image) {
        io::write_image_grid_png(f.output, x, 0, 2, 2, png_parameters(text));
    } else if (ext == ".csv") {
        data::save_points_csv(f.output, x, {"x", "y"});
    } else {
        DataSpec d;
        d.dataset = config.value("dataset", std::string("8gaussians"));
        if (config.contains("data_csv")) d.csv = config["data_csv"].get<std::string>();
        const Tensor ref = reference_points(d, f.n, f.seed + 1);
        io::write_scatter_png(f.output, {{"data (" + d.name() + ")", ref, {90, 90, 90}}, {"generator", x, io::palette(0)}},
                              plot_extent(ref), 400, settings, 0, png_parameters(text));
    }
    std::printf("wrote %lld samples to %s\n", static_cast<long long>(f.n), f.output.c_str());
    return 0;
}

}  // namespace

std::function<int()> add_gan_commands(CLI::App& app) {
    auto tf = std::make_shared<GanFlags>();
    auto sf = std::make_shared<SampleFlags>();
    CLI::App* gan = app.add_subcommand("gan", "GANs: WGAN-GP and the ReFlow-derived GANs (variants A and B)");
    gan->require_subcommand(1);
    CLI::App* train = gan->add_subcommand(
        "train", "Train a generator against a critic.\n"
                 "Methods: wgan-gp (one-centred penalty, lambda 0.1 on points / 10 on images), zero-centered (variant B: 1/2 E||grad D||^2,\n"
                 "generator -E[D(G(z))]), reflow-gan (variant A: a vector-field critic v(x, t) trained by flow\n"
                 "matching from fakes (t = 0) to reals (t = 1); the generator regressed onto G(z) + eps v(G(z), 0)).");
    add_device_flag(train);
    std::string datasets = "fashion-mnist";
    for (const auto& n : data::toy_dataset_names()) datasets += ", " + n;
    train->add_option("--method", tf->train.method, "wgan-gp, zero-centered or reflow-gan")->capture_default_str();
    train->add_option("--dataset", tf->data.dataset, "Data: " + datasets)->capture_default_str();
    train->add_option("--data-csv", tf->data.csv, "Train on the points of a CSV file (x,y per row) instead");
    train->add_option("--data-dir", tf->data_dir, "Directory of the Fashion-MNIST .gz files")->capture_default_str();
    train->add_option("--steps", tf->train.steps, "Generator iterations")->capture_default_str()->transform(count_in(1, kMaxSteps));
    train->add_option("--batch-size", tf->train.batch, "Batch size")->capture_default_str()->transform(count_in(1, kMaxBatch));
    train->add_option("--n-critic", tf->train.n_critic, "Critic steps per generator step")
        ->capture_default_str()->transform(count_in(1, kMaxInnerSteps));
    train->add_option("--n-gen", tf->train.n_gen, "reflow-gan: regression steps per fixed target")
        ->capture_default_str()->transform(count_in(1, kMaxInnerSteps));
    train->add_option("--epsilon", tf->train.epsilon, "reflow-gan: Euler step along v(G(z), 0)")->capture_default_str()->check(finite_positive());
    train->add_option("--lambda", tf->lambda, "wgan-gp: penalty weight (default 0.1 for points, as in the authors' toy code; 10 for images)")
        ->check(finite_positive());
    train->add_option("--zero-weight", tf->train.loss_options.zero_weight, "zero-centered: weight of E||grad D||^2")
        ->capture_default_str()->check(finite_positive());
    train->add_option("--lr", tf->lr, "Adam learning rate of the generator")->capture_default_str()->check(finite_positive());
    train->add_option("--critic-lr", tf->critic_lr, "Adam learning rate of the critic (default: --lr)")->check(finite_positive());
    train->add_option("--beta1", tf->beta1, "Adam beta1 (WGAN-GP: 0.5 or 0)")->capture_default_str()->check(number_in(0, 1, false, true));
    train->add_option("--beta2", tf->beta2, "Adam beta2")->capture_default_str()->check(number_in(0, 1, false, true));
    train->add_option("--hidden", tf->hidden, "Points: hidden width of generator and critic")
        ->capture_default_str()->transform(count_in(1, kMaxWidth));
    train->add_option("--depth", tf->depth, "Points: hidden layers of generator and critic")
        ->capture_default_str()->transform(count_in(1, kMaxDepth));
    std::string acts;
    for (const auto& n : nn::activation_names()) acts += (acts.empty() ? "" : ", ") + n;
    train->add_option("--activation", tf->activation,
                      "Activation of the MLP generator and of the critic: " + acts +
                          " (default: relu for wgan-gp, as in the paper; silu for zero-centered and reflow-gan)")
        ->check(CLI::IsMember(nn::activation_names()));
    train->add_option("--latent-dim", tf->latent_dim, "Size of z (default 2 for points, 64 for images)")->transform(count_in(1, kMaxWidth));
    train->add_option("--base-channels", tf->base_channels, "Images: channels of generator and critic")
        ->capture_default_str()->transform(count_in(1, kMaxWidth));
    add_ema_flags(train, tf->train.ema_decay, tf->train.ema_warmup, "of the generator, used for samples and metrics");
    add_seed_option(train, tf->train.seed, "Seed of initialisation, z, batches and samples");
    train->add_option("-o,--output", tf->output, "Directory for checkpoint, metrics and pictures")->capture_default_str();
    train->add_option("--eval-every", tf->eval_every, "Generator steps between sliced-W2 evaluations / sample grids (0 = only at the end)")
        ->capture_default_str()->transform(count_in(0, kMaxSteps));
    train->add_option("--num-samples", tf->num_samples, "Points in the metric and picture (the metric's data-vs-data floor is printed beside it)")
        ->capture_default_str()->transform(count_in(1, kMaxSamples));
    add_threads_flag(train);
    add_run_flags(train, tf->run, "Generator steps");

    CLI::App* sample = gan->add_subcommand("sample", "Sample a trained GAN generator");
    add_device_flag(sample);
    add_threads_flag(sample);
    sample->add_option("--model", sf->model, "checkpoint.safetensors written by `rflow gan train`")->required();
    sample->add_option("-n,--num-samples", sf->n, "Samples")->capture_default_str()->transform(count_in(1, kMaxSamples));
    add_seed_option(sample, sf->seed, "Seed of z");
    sample->add_option("-o,--output", sf->output, "Output: .png (scatter or image grid) or .csv (points)")->capture_default_str();

    return [=]() -> int {
        if (train->parsed()) return run_gan_train(*tf);
        if (sample->parsed()) return run_gan_sample(*sf);
        return -1;
    };
}

}  // namespace rflow::cli
