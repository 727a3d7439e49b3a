// `rflow train` (1-RF), `rflow reflow` (k-RF on pairs from a trained flow) and `rflow distill`
// (k-step model on such pairs). Each writes into -o/--output: checkpoint.safetensors (model,
// optimizer, EMA, RNG, step, config; atomic, periodic and final), metrics.jsonl, samples.png
// (data beside samples), loss.png, and for reflow/distill the pairs.safetensors it trained on.
#include "train_commands.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <memory>

#include "cli_common.hpp"
#include "flag_checks.hpp"
#include "flow_training.hpp"
#include "lora_flags.hpp"
#include "progress.hpp"
#include "rflow/autograd.hpp"
#include "rflow/data/toy2d.hpp"
#include "rflow/trainers/adversarial.hpp"
#include "rflow/nn/critic.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/plot.hpp"
#include "rflow/nn/lora.hpp"
#include "rflow/nn/lora_file.hpp"
#include "rflow/dist.hpp"
#include "rflow/metrics.hpp"
#include "rflow/optim/adam.hpp"
#include "rflow/trainers/flow_matching.hpp"
#include "rflow/trainers/reflow.hpp"

namespace rflow::cli {

namespace fs = std::filesystem;

namespace {

struct TrainFlags {
    DataSpec data;
    nn::VelocityMLPConfig model;
    trainers::FlowMatchingConfig train;
    float lr = 1e-3f;
    std::string coupling = "independent";
    std::string output;
    RunOptions run = run_defaults(100, 1000);
    int64_t num_samples = 2000;
    SamplingFlags eval;  // for the final picture and metric
    // distill: an optional critic sharpening the k-step student (trainers/adversarial.hpp)
    float adversarial_weight = 0.f;
    std::string adversarial_loss = "zero-centered";
    float critic_lr = 1e-4f;
    int64_t distill_k = 1;
    LoRAFlags lora;  // train --base: LoRA fine-tuning of a trained model
};

// What differs between train, reflow and distill.
struct PairFlags {
    std::string model;       // the trained flow the pairs come from
    int64_t count = 50000;   // pairs to generate
    std::string file;        // or an existing pairs file
    SamplingFlags sampling;  // how pairs are generated
    bool from_scratch = false;
    int64_t k = 1;           // distill: steps of the student
    int64_t chunk = 5000;    // pairs per batch of generation (progress is saved after each)
};

void add_common_flags(CLI::App* c, TrainFlags& f, const std::string& default_out, bool with_model_shape) {
    std::string datasets;
    for (const auto& n : data::toy_dataset_names()) datasets += (datasets.empty() ? "" : ", ") + n;
    f.output = default_out;
    c->add_option("--dataset", f.data.dataset, "Toy distribution: " + datasets)->capture_default_str();
    c->add_option("--data-csv", f.data.csv, "Train on the points of a CSV file (x,y per row) instead");
    c->add_option("--steps", f.train.steps, "Optimisation steps")->capture_default_str()->transform(count_in(1, kMaxSteps));
    c->add_option("--batch-size", f.train.batch, "Batch size")->capture_default_str()->transform(count_in(1, kMaxBatch));
    c->add_option("--lr", f.lr, "Adam learning rate")->capture_default_str()->check(finite_positive());
    add_seed_option(c, f.train.seed, "Seed of initialisation, pairs, times and samples");
    if (with_model_shape) {
        c->add_option("--hidden", f.model.hidden, "Hidden width")->capture_default_str()->transform(count_in(1, kMaxWidth));
        c->add_option("--depth", f.model.depth, "Hidden layers")->capture_default_str()->transform(count_in(1, kMaxDepth));
        c->add_option("--activation", f.model.activation, "relu, silu, gelu, tanh, sigmoid, softplus")->capture_default_str();
        c->add_option("--time-embedding", f.model.time_embedding, "none, sinusoidal or fourier")->capture_default_str();
    }
    c->add_option("--time-sampling", f.train.time_sampler, "uniform or logit-normal")
        ->capture_default_str()->check(CLI::IsMember(trainers::time_sampler_names()));
    // an EMA of the weights: at lr 1e-3 the raw weights' step-to-step noise is most of the toy error
    // (moons: sliced W2 0.032-0.048 raw, 0.016 with the EMA; docs/toy-results.md)
    f.train.ema_decay = 0.999f;
    f.train.ema_warmup = true;
    add_ema_flags(c, f.train.ema_decay, f.train.ema_warmup);
    c->add_option("--grad-clip", f.train.grad_clip, "Clip the global gradient norm (0 = off)")->capture_default_str()->check(non_negative());
    c->add_option("-o,--output", f.output, "Directory for checkpoint, metrics and pictures")->capture_default_str();
    c->add_option("--num-samples", f.num_samples, "Points in the sample picture and metric")
        ->capture_default_str()->transform(count_in(1, kMaxSamples));
    add_threads_flag(c);
    add_run_flags(c, f.run);
}

void add_pair_flags(CLI::App* c, PairFlags& p) {
    c->add_option("--model", p.model, "Checkpoint of the trained flow that makes the pairs")->required();
    c->add_option("--pairs", p.count, "Pairs (z0, z1 = ODE(z0)) to generate")->capture_default_str()->transform(count_in(1, kMaxPairs));
    c->add_option("--pairs-file", p.file, "Use pairs from this file (written by an earlier run) instead");
    c->add_option("--pair-method", p.sampling.method, "ODE solver generating the pairs")
        ->capture_default_str()->check(CLI::IsMember(samplers::sampler_names()));
    c->add_option("--pair-steps", p.sampling.steps, "Steps of that solver")->capture_default_str()->transform(count_in(1, kMaxSolverSteps));
    c->add_option("--pair-rtol", p.sampling.rtol, "Its relative tolerance (adaptive)")->capture_default_str()->check(tolerance());
    c->add_option("--pair-atol", p.sampling.atol, "Its absolute tolerance (adaptive)")->capture_default_str()->check(tolerance());
    c->add_option("--pair-chunk", p.chunk, "Pairs integrated per batch; progress is saved after each, and a rerun resumes")
        ->capture_default_str()->transform(count_in(1, kMaxPairs));
}

using Metadata = std::vector<std::pair<std::string, std::string>>;

// What the pairs of this run are made from: the teacher (path and a fingerprint of its weights) and
// the generation settings. A pairs file recording anything else belongs to another run.
Metadata pair_provenance(const PairFlags& p, const LoadedModel& teacher, uint64_t seed) {
    return {{"teacher", teacher.path},
            {"teacher_fingerprint", trainers::weights_fingerprint(teacher.model->state_dict())},
            {"sampler", p.sampling.method},
            {"sample_steps", std::to_string(p.sampling.steps)},
            {"rtol", fmt("%.17g", p.sampling.rtol)},
            {"atol", fmt("%.17g", p.sampling.atol)},
            {"count", std::to_string(p.count)},
            {"seed", std::to_string(seed)},
            {"chunk", std::to_string(p.chunk)}};
}

// The first setting `recorded` lacks or has otherwise than `wanted`, as a phrase; "" when all match.
std::string provenance_mismatch(const Metadata& recorded, const Metadata& wanted) {
    for (const auto& [key, value] : wanted) {
        auto it = std::find_if(recorded.begin(), recorded.end(), [&](const auto& kv) { return kv.first == key; });
        if (it == recorded.end()) return "it records no " + key;
        if (it->second != value)
            return "its " + key + " is " + shown_value(it->second, 80) + ", this run's " + shown_value(value, 80);
    }
    return "";
}

std::string metadata_value(const Metadata& m, const std::string& key) {
    for (const auto& [k, v] : m)
        if (k == key) return v;
    return "";
}

// Test hook: RFLOW_TEST_STOP_PAIRS_AFTER=N cancels pair generation once N pairs are done, as a
// kill would (the progress saved so far stays), so that the test can check the resume.
int64_t test_stop_pairs_after() {
    const char* env = std::getenv("RFLOW_TEST_STOP_PAIRS_AFTER");
    return env ? std::atoll(env) : 0;
}

// Loads or generates the pairs for reflow/distill, keeping a copy in the output directory. Kept
// pairs are reused only when they record this run's teacher and settings. Generation saves its
// progress after every chunk (pairs.partial.safetensors, atomic), and a run with the same
// settings carries on from there.
trainers::Pairs obtain_pairs(const PairFlags& p, LoadedModel& teacher, const std::string& out_dir, uint64_t seed) {
    fs::create_directories(out_dir);
    const std::string kept = (fs::path(out_dir) / "pairs.safetensors").string();
    const std::string partial = (fs::path(out_dir) / "pairs.partial.safetensors").string();
    if (!p.file.empty()) {
        trainers::Pairs pairs = as_input([&] { return trainers::load_pairs(p.file, teacher.sample_shape); });
        std::fprintf(stderr, "using %lld pairs from %s\n", static_cast<long long>(pairs.z0.size(0)), p.file.c_str());
        if (dist::is_root() && fs::path(p.file) != fs::path(kept)) trainers::save_pairs(kept, pairs);
        return pairs;
    }
    const Metadata wanted = pair_provenance(p, teacher, seed);
    if (fs::exists(kept)) {  // an earlier run's pairs: reuse them only if they are this run's
        trainers::Pairs pairs = as_input([&] { return trainers::load_pairs(kept, teacher.sample_shape); });
        const std::string why = provenance_mismatch(pairs.metadata, wanted);
        if (why.empty()) {
            std::fprintf(stderr, "using %lld pairs from %s\n", static_cast<long long>(pairs.z0.size(0)), kept.c_str());
            return pairs;
        }
        std::fprintf(stderr, "%s was made by another teacher or with other settings (%s): generating new pairs\n",
                     kept.c_str(), why.c_str());
    }
    trainers::PairGenerationOptions o;
    o.device = teacher.model->device();
    o.sampler = p.sampling.method;
    o.sampler_options = sampler_options(p.sampling);
    o.chunk = p.chunk;
    Generator g(seed, 5);
    trainers::Pairs start;
    if (fs::exists(partial)) {
        try {
            trainers::Pairs saved = trainers::load_pairs(partial, teacher.sample_shape);
            std::array<uint64_t, 3> state{};
            const std::string why = provenance_mismatch(saved.metadata, wanted);
            if (!why.empty())
                std::fprintf(stderr, "%s belongs to other settings (%s): starting over\n", partial.c_str(), why.c_str());
            else if (std::sscanf(metadata_value(saved.metadata, "rng").c_str(), "%lu %lu %lu", &state[0], &state[1],
                                 &state[2]) != 3)
                std::fprintf(stderr, "%s lacks its generator state: starting over\n", partial.c_str());
            else {
                g.set_state(state);
                start = saved;
                std::fprintf(stderr, "resuming pair generation at %lld of %lld from %s\n",
                             static_cast<long long>(saved.z0.size(0)), static_cast<long long>(p.count), partial.c_str());
            }
        } catch (const Error& e) {
            std::fprintf(stderr, "%s is unreadable (%s): starting over\n", partial.c_str(), e.what());
        }
    }
    o.on_chunk = [&](const trainers::Pairs& so_far, const std::array<uint64_t, 3>& state) {
        trainers::Pairs progress = so_far;
        progress.metadata = wanted;
        progress.metadata.emplace_back("rng", std::to_string(state[0]) + " " + std::to_string(state[1]) + " " +
                                                  std::to_string(state[2]));
        if (dist::is_root()) trainers::save_pairs(partial, progress);  // every rank makes the same pairs
    };
    Progress bar("pairs", p.count, o.chunk);
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t stop_after = test_stop_pairs_after();
    o.progress = [&](int64_t done, int64_t total) {
        bar.update(done, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), "");
        return !(stop_after > 0 && done >= stop_after && done < total);
    };
    trainers::Pairs pairs = trainers::generate_pairs(velocity_of(*teacher.model), teacher.sample_shape, p.count, g, o,
                                                     start);
    bar.finish();
    for (const auto& [key, value] : wanted)
        if (metadata_value(pairs.metadata, key).empty()) pairs.metadata.emplace_back(key, value);
    if (dist::is_root()) {
        trainers::save_pairs(kept, pairs);
        fs::remove(partial);
    }
    return pairs;
}

int run_training(const TrainFlags& f, trainers::PairSource pairs, nn::VelocityMLP& model, nlohmann::json config,
                 const SamplingFlags& picture, std::vector<optim::ParamGroup> groups = {}) {
    model.to(cli_device());
    optim::AdamOptions adam;
    adam.lr = f.lr;
    optim::Adam opt = groups.empty() ? optim::Adam(model.parameters(), adam) : optim::Adam(std::move(groups), adam);
    auto trainer = as_input(
        [&] { return std::make_unique<trainers::FlowMatchingTrainer>(model, opt, std::move(pairs), f.train); });
    // the adversarial term's critic and optimizer live as long as the trainer
    std::unique_ptr<nn::MLPCritic> critic;
    std::unique_ptr<optim::Adam> critic_opt;
    std::unique_ptr<trainers::AdversarialTerm> adversarial;
    if (f.adversarial_weight > 0.f) {
        if (f.run.resume) throw BadInput("--resume cannot be combined with --adversarial-weight (the critic is not checkpointed)");
        Generator critic_init(f.train.seed, 8);
        nn::MLPCriticConfig cc;
        cc.in_dim = model.config().data_dim;
        cc.hidden = {256, 256, 256};
        critic = std::make_unique<nn::MLPCritic>(cc, critic_init);
        critic->to(model.device());
        optim::AdamOptions co;
        co.lr = f.critic_lr;
        co.beta1 = 0.5f;
        co.beta2 = 0.9f;
        critic_opt = std::make_unique<optim::Adam>(critic->parameters(), co);
        trainers::AdversarialOptions ao;
        ao.weight = f.adversarial_weight;
        ao.loss = f.adversarial_loss;
        ao.k = f.distill_k;
        ao.seed = f.train.seed;
        adversarial = as_input([&] {
            return std::make_unique<trainers::AdversarialTerm>(model, *critic, *critic_opt, make_data_source(f.data), ao);
        });
        trainer->set_extra_loss(std::ref(*adversarial));
        config["adversarial_weight"] = f.adversarial_weight;
        config["adversarial_loss"] = f.adversarial_loss;
    }
    config["lr"] = f.lr;
    config["batch_size"] = f.train.batch;
    config["steps"] = f.train.steps;
    config["seed"] = f.train.seed;
    config["time_sampling"] = f.train.time_sampler;
    config["ema"] = f.train.ema_decay;
    config["ema_warmup"] = f.train.ema_warmup;
    const std::string label = config.value("label", std::string("flow"));
    RunOptions ro = f.run;
    ro.label = label;
    ro.output = f.output;
    ro.total_steps = f.train.steps;
    TrainingRun run(ro, config);
    resume_training(*trainer, run, {"dataset", "data_csv", "kind", "distill_k"});
    if (dist::is_root())
        std::fprintf(stderr, "training %s on %s: %lld parameters, %lld steps, batch %lld%s\n", label.c_str(),
                     f.data.name().c_str(), static_cast<long long>(model.num_parameters()),
                     static_cast<long long>(f.train.steps), static_cast<long long>(f.train.batch),
                     dist::world_size() > 1 ? (" over " + std::to_string(dist::world_size()) + " MPI ranks").c_str() : "");
    run_flow_loop(*trainer, run);
    if (!dist::is_root()) return 0;  // rank 0 draws the pictures and the final metric
    if (critic) io::save_weights((fs::path(f.output) / "adversarial_critic.safetensors").string(), critic->state_dict());

    // pictures and a quality number, sampled from the EMA weights when there are any
    if (trainer->ema()) {
        NoGradGuard ng;
        std::vector<Tensor> params = model.parameters();
        trainer->ema()->copy_to(params);
    }
    int64_t nfe = 0;
    Tensor samples = sample_model(model, {model.config().data_dim}, f.num_samples, f.train.seed + 1, picture, &nfe);
    Tensor data = reference_points(f.data, f.num_samples, f.train.seed + 1);
    Generator proj(f.train.seed + 1, 4);
    const int64_t n = std::min(samples.size(0), data.size(0));
    const double sw = sliced_wasserstein(samples.slice(0, 0, n), data.slice(0, 0, n), proj);
    run.log({{"step", trainer->steps_done()}, {"sliced_w2", sw}, {"sampling_method", picture.method}, {"nfe", nfe}});
    const float extent = plot_extent(data);
    const std::string footer = "rflow " + label + " | " + f.data.name() + " | seed " + std::to_string(f.train.seed) +
                               " | steps " + std::to_string(trainer->steps_done()) + " | " + picture.method + " NFE " +
                               std::to_string(nfe) + " | sliced W2 " + fmt("%.4f", sw);
    const std::string png = (fs::path(f.output) / "samples.png").string();
    const io::PngText text = png_parameters({{"model", run.checkpoint_path()},
                                             {"seed", std::to_string(f.train.seed + 1)},
                                             {"solver", picture.method},
                                             {"steps", std::to_string(picture.steps)},
                                             {"nfe", std::to_string(nfe)},
                                             {"dataset", f.data.name()},
                                             {"training_steps", std::to_string(trainer->steps_done())}});
    io::write_scatter_png(png, {{"data (" + f.data.name() + ")", data, {90, 90, 90}},
                                {label + " (" + picture.method + ", NFE " + std::to_string(nfe) + ")", samples, io::palette(0)}},
                          extent, 400, footer, 0, text);
    run.log_picture("samples", png, trainer->steps_done());
    if (!trainer->losses().empty())
        io::write_curve_png((fs::path(f.output) / "loss.png").string(), label + " loss", trainer->losses(), true, 640, 360,
                            text, trainer->steps_done() - static_cast<int64_t>(trainer->losses().size()) + 1);
    std::printf("%s: sliced W2 to data %.4f at NFE %lld (%s)\nwrote %s, %s, %s\n", label.c_str(), sw,
                static_cast<long long>(nfe), picture.method.c_str(), run.checkpoint_path().c_str(), png.c_str(),
                run.metrics_path().c_str());
    return 0;
}

nlohmann::json base_config(const TrainFlags& f, const nn::VelocityMLPConfig& mc, const std::string& label) {
    nlohmann::json c = {{"model_config", model_config_json(mc)}, {"label", label}, {"kind", "flow"}};
    if (f.data.csv.empty()) c["dataset"] = f.data.dataset;
    else c["data_csv"] = f.data.csv;
    return c;
}

// Reflow and distill read the dataset and model shape from the teacher.
void inherit_from_teacher(TrainFlags& f, const LoadedModel& teacher, const CLI::App* cmd) {
    if (cmd->count("--dataset") == 0 && cmd->count("--data-csv") == 0) {
        f.data.dataset = teacher.dataset();
        if (teacher.config.contains("data_csv")) f.data.csv = teacher.config["data_csv"].get<std::string>();
    }
    f.model = teacher.mlp().config();
}

// LoRA fine-tuning of a trained point model: adapters on the targets (everything else frozen),
// LoRA-GA's gradient estimate when asked, LoRA+ groups, and the adapter written as a PEFT
// directory <output>/adapter beside the usual checkpoint and pictures.
int run_lora_finetune(TrainFlags& f, const CLI::App* cmd) {
    check_lora_flags(f.lora);
    LoadedModel base = load_model(f.lora.base);
    if (cmd->count("--dataset") == 0 && cmd->count("--data-csv") == 0) {
        f.data.dataset = base.dataset();
        if (base.config.contains("data_csv")) f.data.csv = base.config["data_csv"].get<std::string>();
    }
    f.model = base.mlp().config();
    Generator init(f.train.seed, 0);
    nn::VelocityMLP model(f.model, init);
    model.load_state_dict(base.model->state_dict());
    const nn::LoRATargets targets = lora_targets_for(model, f.lora);
    trainers::DataSource data = as_input([&] { return make_data_source(f.data); });
    auto lora = setup_lora(model, f.lora, targets, init, [&](int64_t n, Generator& g) {
        const Tensor x1 = data(n, g);
        return trainers::flow_matching_loss(model, Tensor::normal(x1.shape(), g), x1, Tensor::uniform({n}, g));
    }, f.train.seed);
    nlohmann::json config = base_config(f, f.model, "LoRA fine-tune");
    config["lora"] = lora_json(targets, f.lora.cfg);
    config["base"] = f.lora.base;
    config["lora_plus_ratio"] = f.lora.plus_ratio;
    std::fprintf(stderr, "LoRA on %zu layer(s) of %s: %zu trainable tensors\n", lora->adapters().size(),
                 f.lora.base.c_str(), lora->parameters().size());
    const int rc = run_training(f, trainers::independent_coupling(data), model, config, f.eval,
                                lora->lora_plus_groups(f.lr, f.lora.plus_ratio));
    const std::string dir = (fs::path(f.output) / "adapter").string();
    nn::save_lora_adapter(dir, *lora, targets, f.lora.cfg, f.lora.base);
    std::printf("wrote %s (PEFT adapter)\n", dir.c_str());
    return rc;
}

}  // namespace

std::function<int()> add_train_commands(CLI::App& app) {
    auto tf = std::make_shared<TrainFlags>();
    auto rf = std::make_shared<TrainFlags>();
    auto df = std::make_shared<TrainFlags>();
    auto rp = std::make_shared<PairFlags>();
    auto dp = std::make_shared<PairFlags>();

    CLI::App* train = app.add_subcommand("train", "Train a 1-rectified flow (flow matching) on 2-D data");
    add_device_flag(train);
    add_common_flags(train, *tf, "out/1rf", true);
    train->add_option("--coupling", tf->coupling, "independent, or ot (exact minibatch optimal transport)")->capture_default_str();
    add_sampling_flags(train, tf->eval, "ODE solver for the final samples picture");
    add_lora_flags(train, tf->lora, "re:.*");

    CLI::App* lora_cmd = app.add_subcommand("lora", "LoRA adapter files");
    lora_cmd->require_subcommand(1);
    CLI::App* merge = lora_cmd->add_subcommand("merge", "Write a model with adapters merged into its weights");
    auto merge_model = std::make_shared<std::string>(), merge_out = std::make_shared<std::string>();
    auto merge_specs = std::make_shared<std::vector<std::string>>();
    merge->add_option("--model", *merge_model, "Checkpoint written by train, reflow, distill or train-images")->required();
    merge->add_option("--lora", *merge_specs, "Adapter PATH[:WEIGHT]; repeat to merge several")->required();
    merge->add_option("-o,--output", *merge_out, "The merged model file (.safetensors)")->required();

    CLI::App* reflow = app.add_subcommand("reflow", "Train the next flow (k-RF) on (noise, ODE(noise)) pairs from a trained flow");
    add_device_flag(reflow);
    rp->sampling.method = dp->sampling.method = "rk4";
    rp->sampling.steps = dp->sampling.steps = 50;
    rf->eval.steps = 1;  // a straightened flow is meant for few steps
    add_common_flags(reflow, *rf, "out/2rf", false);
    add_pair_flags(reflow, *rp);
    reflow->add_flag("--from-scratch", rp->from_scratch, "Start from new weights instead of the teacher's");
    add_sampling_flags(reflow, rf->eval, "ODE solver for the final samples picture");

    CLI::App* distill = app.add_subcommand("distill", "Distil a trained flow into a k-step model on its (noise, ODE(noise)) pairs");
    add_device_flag(distill);
    add_common_flags(distill, *df, "out/distilled", false);
    add_pair_flags(distill, *dp);
    distill->add_option("--k", dp->k, "Euler steps of the distilled model")->capture_default_str()->transform(count_in(1, kMaxSolverSteps));
    distill->add_flag("--from-scratch", dp->from_scratch, "Start from new weights instead of the teacher's");
    distill->add_option("--adversarial-weight", df->adversarial_weight,
                        "Add w * -E[D(G(z))] from a critic trained alongside on (k-step samples, data) (0 = off)")
        ->capture_default_str()->check(non_negative());
    distill->add_option("--adversarial-loss", df->adversarial_loss, "Critic loss: zero-centered or wgan-gp")
        ->capture_default_str()->check(CLI::IsMember({"zero-centered", "wgan-gp"}));
    distill->add_option("--critic-lr", df->critic_lr, "Adam learning rate of that critic")->capture_default_str()->check(finite_positive());

    return [=]() -> int {
        if (merge->parsed()) {
            LoadedModel m = load_model(*merge_model);
            merge_loras(*m.model, *merge_specs);
            io::Checkpoint c;
            c.model = m.model->state_dict();
            nlohmann::json config = m.config;
            config.erase("lora");
            config["merged_loras"] = *merge_specs;
            c.config = config.dump();
            io::save_checkpoint(*merge_out, c);
            std::printf("wrote %s (%zu adapter(s) merged)\n", merge_out->c_str(), merge_specs->size());
            return 0;
        }
        if (train->parsed() && !tf->lora.base.empty()) return run_lora_finetune(*tf, train);
        if (train->parsed()) {
            TrainFlags& f = *tf;
            const double hidden = static_cast<double>(f.model.hidden), depth = static_cast<double>(f.model.depth);
            check_network_size("--hidden " + std::to_string(f.model.hidden) + " --depth " + std::to_string(f.model.depth) +
                                   " --batch-size " + std::to_string(f.train.batch),
                               hidden * hidden * depth, static_cast<double>(f.train.batch) * hidden * (depth + 2));
            Generator init(f.train.seed, 0);
            nn::VelocityMLP model = as_input([&] { return nn::VelocityMLP(f.model, init); });
            trainers::PairSource pairs = as_input([&] { return trainers::make_coupling(f.coupling, make_data_source(f.data)); });
            as_input([&] { return trainers::make_time_sampler(f.train.time_sampler, f.train.time_options); });
            nlohmann::json config = base_config(f, f.model, "1-RF");
            config["coupling"] = f.coupling;
            return run_training(f, pairs, model, config, f.eval);
        }
        for (auto [cmd, f, p] : {std::make_tuple(reflow, rf, rp), std::make_tuple(distill, df, dp)}) {
            if (!cmd->parsed()) continue;
            const bool is_distill = cmd == distill;
            LoadedModel teacher = load_model(p->model);
            inherit_from_teacher(*f, teacher, cmd);
            teacher.mlp();  // reflow and distill work on point models
            trainers::Pairs pairs = obtain_pairs(*p, teacher, f->output, f->train.seed);
            Generator init(f->train.seed, 0);
            nn::VelocityMLP model(f->model, init);
            if (!p->from_scratch) model.load_state_dict(teacher.model->state_dict());
            // the student's label: one more reflow than the teacher, or "distilled k-step"
            const int64_t teacher_k = teacher.config.value("rectified", int64_t{1});
            std::string label = is_distill ? "distilled " + std::to_string(p->k) + "-step"
                                           : std::to_string(teacher_k + 1) + "-RF";
            nlohmann::json config = base_config(*f, f->model, label);
            config["teacher"] = p->model;
            config["pairs"] = pairs.z0.size(0);
            SamplingFlags picture = f->eval;
            if (is_distill) {
                f->train.time_sampler = "grid";  // train exactly the times a k-step Euler visits
                f->train.time_options.grid_steps = p->k;
                f->distill_k = p->k;
                config["kind"] = "distilled";
                config["distill_k"] = p->k;
                config["rectified"] = teacher_k;
                picture = {"euler", static_cast<int>(p->k), 0, 0};
            } else {
                config["rectified"] = teacher_k + 1;
            }
            return run_training(*f, trainers::stored_pairs(pairs.z0, pairs.z1), model, config, picture);
        }
        return -1;
    };
}

}  // namespace rflow::cli
