// `rflow train-images`: trains a (class-conditional or, with --text, prompt-conditioned) U-Net or DiT (--arch) velocity field by flow
// matching on Fashion-MNIST or an image folder. Writes into -o/--output: checkpoint.safetensors (model, Adam,
// EMA, RNG, step, config), metrics.jsonl, loss.png and samples.png, a grid sampled from the EMA
// weights every --sample-every steps (one row per class when class-conditional).
#include "image_commands.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli_common.hpp"
#include "flag_checks.hpp"
#include "flow_training.hpp"
#include "lora_flags.hpp"
#include "rflow/nn/lora_file.hpp"
#include "progress.hpp"
#include "rflow/autograd.hpp"
#include "rflow/data/captions.hpp"
#include "rflow/data/idx.hpp"
#include "rflow/data/tokenizer.hpp"
#include "rflow/data/image_folder.hpp"
#include "rflow/dist.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/image.hpp"
#include "rflow/io/plot.hpp"
#include "rflow/loss.hpp"
#include "rflow/nn/attention.hpp"
#include "rflow/nn/attention_scale.hpp"
#include "rflow/ops.hpp"
#include "rflow/optim/adam.hpp"
#include "rflow/optim/schedule.hpp"
#include "rflow/trainers/flow_matching.hpp"

namespace rflow::cli {

namespace fs = std::filesystem;

namespace {

struct ImageTrainFlags {
    std::string dataset = "fashion-mnist";
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
    std::string image_folder;
    int image_size = 32;
    int channels = 3;
    bool unconditional = false;
    bool flip = false;
    std::string arch = "unet";  // unet | dit
    nn::UNetConfig unet;
    nn::DiTConfig dit;
    trainers::FlowMatchingConfig train;
    float lr = 5e-4f;
    std::string output = "out/images";
    int64_t sample_every = 500;
    RunOptions run = run_defaults(50, 500);
    float cfg_scale = 2.f;
    SamplingFlags sampling{"euler", 20, 1e-5, 1e-5};
    LoRAFlags lora;              // --base: LoRA fine-tuning of a trained U-Net or DiT
    bool arch_given = false;
    bool text = false;           // --text: a DiT conditioned on captions through a prompt encoder
    double text_alpha = 0.1;     // subword-regularisation alpha for training captions
    int64_t tokenizer_vocab = 320;
    nn::PromptEncoderConfig encoder;
};

struct ImageData {
    Tensor images;
    std::vector<int64_t> labels;
    std::vector<std::string> class_names;
    std::string name;
};

ImageData load_data(const ImageTrainFlags& f) {
    ImageData d;
    if (!f.image_folder.empty()) {
        data::ImageFolder folder = as_input([&] {
            return data::load_image_folder(f.image_folder, f.image_size, f.channels, !f.unconditional);
        });
        d = {folder.images, folder.labels, folder.class_names, f.image_folder};
    } else {
        if (f.dataset != "fashion-mnist") throw BadInput("--dataset: only fashion-mnist (or --image-folder DIR)");
        data::MnistSplit s = as_input([&] { return data::load_fashion_mnist(f.data_dir, true); });
        d = {s.images, s.labels, data::fashion_mnist_class_names(), "fashion-mnist"};
    }
    if (f.unconditional) d.class_names.clear();
    return d;
}

// Random images (with replacement) and their labels, drawn from the trainer's generator, with an
// optional horizontal flip per image: the whole data stream lives in the checkpointed RNG.
trainers::LabeledDataSource image_source(const ImageData& d, bool flip, bool labelled) {
    return [images = d.images, labels = d.labels, flip, labelled](int64_t n, Generator& g) {
        std::vector<int64_t> idx(n);
        g.randint(idx.data(), n, 0, images.size(0));
        NoGradGuard ng;
        Tensor x = index_select(images, 0, idx).contiguous();
        if (flip) {
            std::vector<float> u(n);
            g.uniform(u.data(), n);
            const int64_t c = x.size(1), h = x.size(2), w = x.size(3);
            float* p = x.data();
            for (int64_t i = 0; i < n; ++i) {
                if (u[i] >= 0.5f) continue;
                for (int64_t r = 0; r < c * h; ++r) std::reverse(p + (i * c * h + r) * w, p + (i * c * h + r + 1) * w);
            }
        }
        std::vector<int64_t> lab;
        if (labelled)
            for (int64_t i : idx) lab.push_back(labels[i]);
        return std::make_pair(x, lab);
    };
}

// A grid of samples: one row per class (10 images each) when class-conditional, else 8 x 8.
void write_samples(nn::VelocityModel& model, const Shape& sample_shape, const ImageTrainFlags& f, const std::string& path,
                   int64_t step, uint64_t seed) {
    const int64_t classes = model.num_classes();
    std::vector<int64_t> labels;
    int64_t n = 64;
    int columns = 8;
    if (classes > 0) {
        const int64_t per = 10;
        for (int64_t c = 0; c < classes; ++c) labels.insert(labels.end(), per, c);
        n = classes * per;
        columns = static_cast<int>(per);
    }
    int64_t nfe = 0;
    Tensor x = sample_model(model, sample_shape, n, seed, f.sampling, &nfe, nullptr, labels, f.cfg_scale);
    io::write_image_grid_png(path, clamp(x, -1.f, 1.f), columns, 2, 2,
                             png_parameters({{"model", f.output},
                                             {"step", std::to_string(step)},
                                             {"seed", std::to_string(seed)},
                                             {"solver", f.sampling.method},
                                             {"steps", std::to_string(f.sampling.steps)},
                                             {"guidance", classes > 0 ? fmt("%.2f", f.cfg_scale) : "none"},
                                             {"size", std::to_string(sample_shape[2]) + "x" + std::to_string(sample_shape[1])}}));
}

const char* const kUNetFlags[] = {"--base-channels", "--channel-mults", "--res-blocks", "--attention-levels", "--dropout"};
const char* const kDiTFlags[] = {"--patch",     "--dim",      "--depth",     "--mlp-ratio", "--attention",
                                 "--kv-heads",  "--kv-latent", "--q-latent", "--rope-dim",  "--rope",
                                 "--attention-scale", "--text", "--text-alpha", "--tokenizer-vocab",
                                 "--text-depth", "--text-heads"};

// DiT flags that the constructor would reject, as errors naming the flag (exit code 2).
void check_dit_flags(const nn::DiTConfig& c) {
    auto n = [](int64_t v) { return std::to_string(v); };
    if (c.image_size % c.patch != 0)
        throw BadInput("--patch " + n(c.patch) + " does not divide the image size " + n(c.image_size));
    if (c.dim % c.heads != 0) throw BadInput("--dim " + n(c.dim) + " is not divisible by --heads " + n(c.heads));
    if (c.rope == "none" && c.dim % 4 != 0)
        throw BadInput("--rope none adds a 2-D sin-cos position embedding: --dim must be divisible by 4, got " + n(c.dim));
    if (c.attention == "gqa" && (c.kv_heads <= 0 || c.heads % c.kv_heads != 0))
        throw BadInput("--attention gqa needs --kv-heads dividing --heads " + n(c.heads) + ", got " + n(c.kv_heads));
    if (c.attention != "gqa" && c.kv_heads != 0) throw BadInput("--kv-heads is for --attention gqa");
    if (c.attention == "mla" && c.kv_latent <= 0) throw BadInput("--attention mla needs --kv-latent > 0");
    if (c.attention != "mla" && (c.kv_latent != 0 || c.q_latent != 0 || c.rope_dim != 0))
        throw BadInput("--kv-latent, --q-latent and --rope-dim are for --attention mla");
    if (c.rope == "none" && c.rope_dim != 0) throw BadInput("--rope-dim needs --rope 2d");
    if (c.attention == "mla" && c.rope == "2d" && c.rope_dim <= 0)
        throw BadInput("--attention mla with --rope 2d needs --rope-dim > 0 (its decoupled RoPE key), or use --rope none");
    if (c.kv_latent < 0 || c.q_latent < 0 || c.rope_dim < 0)
        throw BadInput("--kv-latent, --q-latent and --rope-dim must be >= 0");
}

// The network of --arch (or of the --base model); errors name the flag.
std::unique_ptr<nn::VelocityModel> make_image_model(const ImageTrainFlags& f, Generator& init) {
    if (f.arch == "unet") return as_input([&] { return std::make_unique<nn::UNet>(f.unet, init); });
    check_dit_flags(f.dit);
    try {
        return std::make_unique<nn::DiT>(f.dit, init);
    } catch (const Error& e) {
        throw BadInput(std::string("--arch dit: ") + e.what());
    }
}

// Rough sizes of the network the flags describe (before any data is read), refused when absurd.
void check_image_network_size(const ImageTrainFlags& f) {
    const double size = f.image_folder.empty() ? 28 : static_cast<double>(f.image_size);
    const double batch = static_cast<double>(f.train.batch);
    const std::string common = " --batch-size " + std::to_string(f.train.batch) +
                               (f.image_folder.empty() ? "" : " --image-size " + std::to_string(f.image_size));
    if (f.arch == "dit") {
        const double dim = static_cast<double>(f.dit.dim), depth = static_cast<double>(f.dit.depth);
        const double tokens = std::pow(size / static_cast<double>(f.dit.patch), 2);
        check_network_size("--dim " + std::to_string(f.dit.dim) + " --depth " + std::to_string(f.dit.depth) + " --patch " +
                               std::to_string(f.dit.patch) + common,
                           (4 + 2 * static_cast<double>(f.dit.mlp_ratio)) * dim * dim * depth,
                           batch * depth * tokens * (dim * (4 + static_cast<double>(f.dit.mlp_ratio)) +
                                                     static_cast<double>(f.unet.heads) * tokens));
        return;
    }
    double widest = 1;
    for (int64_t m : f.unet.channel_mults) widest = std::max(widest, static_cast<double>(m));
    const double base = static_cast<double>(f.unet.base_channels), blocks = static_cast<double>(f.unet.res_blocks);
    const double levels = static_cast<double>(f.unet.channel_mults.size());
    check_network_size("--base-channels " + std::to_string(f.unet.base_channels) + " --res-blocks " +
                           std::to_string(f.unet.res_blocks) + common,
                       2 * 9 * std::pow(base * widest, 2) * 2 * blocks * levels,
                       batch * base * widest * size * size * (2 * blocks + 2) * levels);
}

int run_train_images(ImageTrainFlags f) {
    if (f.lora.base.empty()) check_image_network_size(f);
    if (!f.lora.base.empty()) check_lora_flags(f.lora);
    ImageData d = load_data(f);
    const int64_t channels = d.images.size(1), size = d.images.size(2);
    const int64_t classes = static_cast<int64_t>(d.class_names.size());
    f.unet.in_channels = f.dit.in_channels = channels;
    f.unet.image_size = f.dit.image_size = size;
    f.unet.num_classes = f.dit.num_classes = classes;
    std::optional<LoadedModel> base;
    if (!f.lora.base.empty()) {  // fine-tune: the base model's architecture and weights
        base = load_model(f.lora.base);
        if (!base->is_image) throw BadInput("--base " + f.lora.base + ": not an image model");
        if (base->model->num_classes() != classes || base->sample_shape != Shape{channels, size, size})
            throw BadInput("--base " + f.lora.base + ": its network does not fit this data (classes, channels or size)");
        const std::string base_arch = dynamic_cast<nn::DiT*>(base->model.get()) ? "dit" : "unet";
        if (f.arch_given && f.arch != base_arch)
            throw BadInput("--arch " + f.arch + ": the --base model " + f.lora.base + " is a " + base_arch);
        if (auto* unet = dynamic_cast<nn::UNet*>(base->model.get())) {
            f.arch = "unet";
            f.unet = unet->config();
        } else if (auto* dit = dynamic_cast<nn::DiT*>(base->model.get())) {
            f.arch = "dit";
            f.dit = dit->config();
            if (!f.lora.targets_given) f.lora.targets = "qkv,out,fc1,fc2";
        }
    }
    const bool is_dit = f.arch == "dit";
    std::string arch_name = is_dit ? "DiT" : "U-Net";
    Generator init(f.train.seed, 0);
    std::unique_ptr<nn::VelocityModel> model;
    nlohmann::json model_json;
    if (f.text) {  // captions of the classes -> tokenizer -> prompt encoder -> DiT
        if (!is_dit) throw BadInput("--text conditions a DiT: add --arch dit");
        if (classes == 0) throw BadInput("--text needs class names to write captions from (not --unconditional)");
        if (base) throw BadInput("--text with --base is not supported");
        check_dit_flags(f.dit);
        nn::TextDiTConfig tc;
        tc.dit = f.dit;
        tc.encoder = f.encoder;
        tc.captions = d.name == "fashion-mnist" ? data::fashion_mnist_captions()
                                                : data::captions_from_class_names(d.class_names);
        tc.sampling_alpha = f.text_alpha;
        tc.seed = f.train.seed;
        data::UnigramTrainOptions to;
        to.vocab_size = f.tokenizer_vocab;
        data::UnigramTokenizer tok = as_input([&] { return data::UnigramTokenizer::train(tc.captions.all_captions(), to); });
        auto text = as_input([&] { return std::make_unique<nn::TextDiT>(tc, tok, init); });
        model_json = model_config_json(*text);
        // an example caption: Fashion-MNIST's sneaker (class 7), or the last class of a smaller folder
        const std::string example = tc.captions.canonical_caption(std::min<int64_t>(7, tc.captions.num_classes() - 1));
        std::printf("text conditioning: %lld captions, tokenizer of %lld pieces (e.g. \"%s\" -> %zu tokens)\n",
                    static_cast<long long>(tc.captions.all_captions().size()), static_cast<long long>(tok.vocab_size()),
                    example.c_str(), tok.encode(example).size());
        model = std::move(text);
        arch_name = "text DiT";
    } else {
        model = make_image_model(f, init);
        model_json = is_dit ? model_config_json(f.dit) : model_config_json(f.unet);
    }
    const Shape sample_shape{channels, size, size};
    if (classes == 0) f.train.label_dropout = 0.f;
    std::unique_ptr<nn::LoRAModel> lora;
    nn::LoRATargets targets;
    if (base) {
        model->load_state_dict(base->model->state_dict());
        targets = lora_targets_for(*model, f.lora);
        const trainers::LabeledDataSource source = image_source(d, false, classes > 0);
        lora = setup_lora(*model, f.lora, targets, init, [&](int64_t n, Generator& g) {
            auto [x1, labels] = source(n, g);
            return trainers::flow_matching_loss(*model, Tensor::normal(x1.shape(), g), x1, Tensor::uniform({n}, g), labels);
        }, f.train.seed);
    }
    model->to(cli_device());
    optim::AdamOptions adam;
    adam.lr = f.lr;
    optim::Adam opt = lora ? optim::Adam(lora->lora_plus_groups(f.lr, f.lora.plus_ratio), adam)
                           : optim::Adam(model->parameters(), adam);
    auto trainer = as_input([&] {
        return std::make_unique<trainers::FlowMatchingTrainer>(
            *model, opt, trainers::labeled_coupling(image_source(d, f.flip, classes > 0)), f.train);
    });
    nlohmann::json config = {{"model_config", model_json},
                             {"label", arch_name + " flow"}, {"kind", "flow"},
                             {"dataset", d.name},  {"class_names", d.class_names}, {"lr", f.lr},
                             {"batch_size", f.train.batch}, {"steps", f.train.steps}, {"seed", f.train.seed},
                             {"label_dropout", f.train.label_dropout}, {"ema", f.train.ema_decay},
                             {"ema_warmup", f.train.ema_warmup}};
    if (lora) {
        config["label"] = arch_name + " LoRA fine-tune";
        config["lora"] = lora_json(targets, f.lora.cfg);
        config["base"] = f.lora.base;
        config["lora_plus_ratio"] = f.lora.plus_ratio;
    }
    RunOptions ro = f.run;
    ro.label = "train-images";
    ro.output = f.output;
    ro.total_steps = f.train.steps;
    TrainingRun run(ro, config);
    const std::string& ckpt = run.checkpoint_path();
    const std::string grid = (fs::path(f.output) / "samples.png").string();
    // a text model's caption draws are its own random stream: saved beside the trainer's, so a resumed
    // run draws the same captions as an uninterrupted one
    auto* text_model = dynamic_cast<nn::TextDiT*>(model.get());
    resume_training(*trainer, run, {}, [&](const io::Checkpoint& c) {
        if (!text_model) return;
        for (const auto& [key, value] : c.metadata)
            if (key == "caption_rng") {
                std::array<uint64_t, 3> st{};
                if (std::sscanf(value.c_str(), "%lu %lu %lu", &st[0], &st[1], &st[2]) != 3)
                    throw BadInput(ckpt + ": caption_rng '" + value + "' is not three integers");
                text_model->caption_generator().set_state(st);
            }
    });
    if (dist::is_root())
        std::fprintf(stderr, "training a %s flow on %s (%lld images %lldx%lld, %lld classes): %lld parameters, %lld steps, batch %lld\n",
                     arch_name.c_str(), d.name.c_str(), static_cast<long long>(d.images.size(0)),
                     static_cast<long long>(size), static_cast<long long>(size), static_cast<long long>(classes),
                     static_cast<long long>(model->num_parameters()), static_cast<long long>(f.train.steps),
                     static_cast<long long>(f.train.batch));
    // samples come from the EMA weights: swap them in, sample, swap the raw weights back
    auto sample_now = [&](int64_t step) {
        std::vector<Tensor> params = model->parameters();
        std::vector<Tensor> saved;
        if (trainer->ema()) {
            NoGradGuard ng;
            for (const Tensor& p : params) saved.push_back(p.detach().clone());
            trainer->ema()->copy_to(params);
        }
        write_samples(*model, sample_shape, f, grid, step, f.train.seed + 1);
        run.log_picture("samples", grid, step);
        if (!saved.empty()) {
            NoGradGuard ng;
            for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
        }
    };
    std::function<void(io::Checkpoint&)> on_save;
    if (text_model)
        on_save = [text_model](io::Checkpoint& c) {
            const std::array<uint64_t, 3> st = text_model->caption_generator().state();
            c.metadata.emplace_back("caption_rng", std::to_string(st[0]) + " " + std::to_string(st[1]) + " " +
                                                       std::to_string(st[2]));
        };
    const auto on_step = [&](int64_t step) {
        if (dist::is_root() && f.sample_every > 0 && step % f.sample_every == 0 && step != f.train.steps) sample_now(step);
    };
    run_flow_loop(*trainer, run, on_step, on_save);
    if (!dist::is_root()) return 0;  // rank 0 samples and writes
    sample_now(trainer->steps_done());
    if (lora) {
        const std::string dir = (fs::path(f.output) / "adapter").string();
        nn::save_lora_adapter(dir, *lora, targets, f.lora.cfg, f.lora.base);
        std::printf("wrote %s (PEFT adapter)\n", dir.c_str());
    }
    if (!trainer->losses().empty())
        io::write_curve_png((fs::path(f.output) / "loss.png").string(), arch_name + " flow-matching loss",
                            trainer->losses(), true, 640, 360,
                            png_parameters({{"model", ckpt}, {"seed", std::to_string(f.train.seed)}}),
                            trainer->steps_done() - static_cast<int64_t>(trainer->losses().size()) + 1);
    std::printf("wrote %s, %s, %s\n", ckpt.c_str(), grid.c_str(), run.metrics_path().c_str());
    return 0;
}

// "1,2,2" -> {1, 2, 2}; BadInput naming the flag for an item that is not a whole number in [lo, hi].
std::vector<int64_t> parse_list(const std::string& s, const char* flag, int64_t lo, int64_t hi) {
    std::vector<int64_t> out;
    size_t pos = 0;
    while (pos <= s.size()) {
        const size_t comma = s.find(',', pos);
        const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!item.empty()) out.push_back(parse_count(item, lo, hi, std::string(flag) + " '" + s + "'"));
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return out;
}

}  // namespace

std::function<int()> add_image_commands(CLI::App& app) {
    auto f = std::make_shared<ImageTrainFlags>();
    auto mults = std::make_shared<std::string>("1,2,2");
    auto attn = std::make_shared<std::string>("2");
    f->train.batch = 128;
    f->train.steps = 5000;
    f->train.ema_decay = 0.999f;
    f->train.ema_warmup = true;
    f->train.label_dropout = 0.1f;
    f->train.grad_clip = 1.f;
    CLI::App* c = app.add_subcommand("train-images", "Train a U-Net or DiT flow on Fashion-MNIST or an image folder");
    add_device_flag(c);
    c->add_option("--dataset", f->dataset, "fashion-mnist (or use --image-folder)")->capture_default_str();
    c->add_option("--data-dir", f->data_dir, "Where the Fashion-MNIST IDX files are")->capture_default_str();
    c->add_option("--image-folder", f->image_folder, "Train on the images under this folder (sub-folders = classes)");
    c->add_option("--image-size", f->image_size, "Image folder: side after resize and centre crop")
        ->capture_default_str()->transform(count_in(1, kMaxImageSize));
    c->add_option("--channels", f->channels, "Image folder: 1 (grey) or 3 (RGB)")->capture_default_str()->check(CLI::IsMember({1, 3}));
    c->add_flag("--unconditional", f->unconditional, "Ignore the class labels");
    c->add_flag("--flip", f->flip, "Random horizontal flips");
    c->add_option("--steps", f->train.steps, "Optimisation steps")->capture_default_str()->transform(count_in(1, kMaxSteps));
    c->add_option("--batch-size", f->train.batch, "Batch size")->capture_default_str()->transform(count_in(1, kMaxBatch));
    c->add_option("--lr", f->lr, "Adam learning rate")->capture_default_str()->check(finite_positive());
    add_seed_option(c, f->train.seed, "Seed of initialisation, batches, noise and times");
    c->add_option("--arch", f->arch, "Network: unet or dit (a diffusion transformer over image patches)")
        ->capture_default_str()->check(CLI::IsMember({"unet", "dit"}));
    c->add_option("--base-channels", f->unet.base_channels, "U-Net channels at full resolution")
        ->capture_default_str()->transform(count_in(1, kMaxWidth));
    c->add_option("--channel-mults", *mults, "Channel multiplier per level")->capture_default_str();
    c->add_option("--res-blocks", f->unet.res_blocks, "Residual blocks per level")->capture_default_str()->transform(count_in(1, kMaxDepth));
    c->add_option("--attention-levels", *attn, "Levels with self-attention (0 = full resolution)")->capture_default_str();
    c->add_option("--heads", f->unet.heads, "Attention heads (U-Net and DiT)")->capture_default_str()->transform(count_in(1, kMaxHeads));
    c->add_option("--dropout", f->unet.dropout, "Dropout in residual blocks (U-Net), in [0, 1)")
        ->capture_default_str()->check(number_in(0, 1, false, true));
    c->add_option("--patch", f->dit.patch, "DiT: patch side p (must divide the image size); (size/p)^2 tokens")
        ->capture_default_str()->transform(count_in(1, kMaxImageSize));
    c->add_option("--dim", f->dit.dim, "DiT: token width")->capture_default_str()->transform(count_in(1, kMaxWidth));
    c->add_option("--depth", f->dit.depth, "DiT: transformer blocks")->capture_default_str()->transform(count_in(1, kMaxDepth));
    c->add_option("--mlp-ratio", f->dit.mlp_ratio, "DiT: MLP hidden width / token width")
        ->capture_default_str()->check(number_in(0, 64, true));
    c->add_option("--attention", f->dit.attention, "DiT attention: mha, mqa, gqa (--kv-heads) or mla (--kv-latent)")
        ->capture_default_str()->check(CLI::IsMember(nn::attention_kinds()));
    c->add_option("--kv-heads", f->dit.kv_heads, "DiT gqa: key/value head groups (must divide --heads)")
        ->capture_default_str()->transform(count_in(0, kMaxHeads));
    c->add_option("--kv-latent", f->dit.kv_latent, "DiT mla: key/value latent width d_c")
        ->capture_default_str()->transform(count_in(0, kMaxWidth));
    c->add_option("--q-latent", f->dit.q_latent, "DiT mla: query latent width (0 = queries from the tokens)")
        ->capture_default_str()->transform(count_in(0, kMaxWidth));
    c->add_option("--rope-dim", f->dit.rope_dim, "DiT mla: decoupled RoPE width d_r (needs --rope 2d)")
        ->capture_default_str()->transform(count_in(0, kMaxWidth));
    c->add_option("--rope", f->dit.rope, "DiT positions: 2d (axial RoPE over the patch grid) or none (sin-cos embedding)")
        ->capture_default_str()->check(CLI::IsMember({"2d", "none"}));
    c->add_option("--attention-scale", f->dit.scale, "DiT softmax scale: default (1/sqrt d), gradmax, cosine or logn")
        ->capture_default_str()->check(CLI::IsMember(nn::scale_policy_names()));
    c->add_flag("--text", f->text,
                "DiT conditioned on text: captions of the classes (templates x synonyms) go through a unigram "
                "tokenizer (subword sampling while training) and a transformer prompt encoder; sample with --prompt");
    c->add_option("--text-alpha", f->text_alpha, "Subword-sampling alpha for training captions (< 0: deterministic)")
        ->capture_default_str()->check(finite());
    c->add_option("--tokenizer-vocab", f->tokenizer_vocab, "Tokenizer vocabulary (pieces, the 256 bytes included)")
        ->capture_default_str()->check(CLI::Range(int64_t{256}, int64_t{100000}));
    c->add_option("--text-depth", f->encoder.depth, "Prompt-encoder transformer blocks")
        ->capture_default_str()->transform(count_in(1, kMaxDepth));
    c->add_option("--text-heads", f->encoder.heads, "Prompt-encoder attention heads")
        ->capture_default_str()->transform(count_in(1, kMaxHeads));
    c->add_option("--label-dropout", f->train.label_dropout, "P(label -> null) for classifier-free guidance, in [0, 1]")
        ->capture_default_str()->check(probability());
    add_ema_flags(c, f->train.ema_decay, f->train.ema_warmup);
    c->add_option("--grad-clip", f->train.grad_clip, "Clip the global gradient norm (0 = off)")->capture_default_str()->check(non_negative());
    c->add_option("--time-sampling", f->train.time_sampler, "uniform or logit-normal")
        ->capture_default_str()->check(CLI::IsMember(trainers::time_sampler_names()));
    c->add_option("-o,--output", f->output, "Directory for checkpoint, metrics and grids")->capture_default_str();
    c->add_option("--sample-every", f->sample_every, "Steps between sample grids (0 = only at the end)")
        ->capture_default_str()->transform(count_in(0, kMaxSteps));
    c->add_option("--cfg-scale", f->cfg_scale, "Guidance of the sample grids")->capture_default_str()->check(guidance_scale());
    c->add_option("--sampling-method", f->sampling.method, "ODE solver of the sample grids")
        ->capture_default_str()->check(CLI::IsMember(samplers::sampler_names()));
    c->add_option("--sample-steps", f->sampling.steps, "Its steps")->capture_default_str()->transform(count_in(1, kMaxSolverSteps));
    add_threads_flag(c);
    add_run_flags(c, f->run);
    add_lora_flags(c, f->lora, "qkv,out,conv1,conv2");
    c->get_option("--lora-targets")
        ->description("Comma-separated module names (suffixes) or re:REGEX; a DiT base defaults to qkv,out,fc1,fc2");
    return [=]() -> int {
        if (!c->parsed()) return -1;
        ImageTrainFlags flags = *f;
        flags.dit.heads = flags.unet.heads;
        if (flags.lora.base.empty()) {  // flags of the other network are mistakes, not silently ignored
            for (const char* flag : kDiTFlags)
                if (flags.arch != "dit" && c->count(flag) > 0) throw BadInput(std::string(flag) + " is a DiT flag: add --arch dit");
            for (const char* flag : kUNetFlags)
                if (flags.arch == "dit" && c->count(flag) > 0) throw BadInput(std::string(flag) + " is a U-Net flag, not used by --arch dit");
        }
        flags.arch_given = c->count("--arch") > 0;
        flags.unet.channel_mults = parse_list(*mults, "--channel-mults", 1, kMaxChannelMult);
        flags.unet.attention_levels = parse_list(*attn, "--attention-levels", 0, kMaxDepth);
        return run_train_images(flags);
    };
}

}  // namespace rflow::cli
