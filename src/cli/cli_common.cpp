// Shared CLI pieces: model config JSON, loading models from checkpoints, data sources, sampling.
#include "cli_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "flag_checks.hpp"
#include "rflow/autograd.hpp"
#include "rflow/data/csv.hpp"
#include "rflow/data/toy2d.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/nn/lora_file.hpp"
#include "rflow/ops.hpp"
#include "rflow/trainers/guidance.hpp"

namespace rflow::cli {

namespace {
// Reads one key of a model config, with an error naming the file and the key.
template <class T>
void read_key(const nlohmann::json& j, const char* key, T& out, const std::string& source) {
    if (!j.contains(key)) throw BadInput(source + ": model config lacks '" + key + "'");
    try {
        j.at(key).get_to(out);
    } catch (const nlohmann::json::exception&) {
        throw BadInput(source + ": model config key '" + key + "' has the wrong type");
    }
}

// A size read from a file must be an integer in [lo, hi] before anything is allocated from it.
void check_size(int64_t value, int64_t lo, int64_t hi, const std::string& source, const std::string& key) {
    if (value < lo || value > hi)
        throw BadInput(source + ": model config key '" + key + "' is " + std::to_string(value) + " (expected " +
                       std::to_string(lo) + " to " + std::to_string(hi) + ")");
}

// An integer key of a model config, in [lo, hi]; floats and out-of-range numbers are refused.
void read_size(const nlohmann::json& j, const char* key, int64_t& out, int64_t lo, int64_t hi, const std::string& source) {
    if (!j.contains(key)) throw BadInput(source + ": model config lacks '" + key + "'");
    const nlohmann::json& v = j.at(key);
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
        throw BadInput(source + ": model config key '" + key + "' is " + v.dump() + " (expected " + std::to_string(lo) +
                       " to " + std::to_string(hi) + ")");
    if (!v.is_number_integer())
        throw BadInput(source + ": model config key '" + key + "' is " + v.dump().substr(0, 40) + " (expected an integer)");
    out = v.get<int64_t>();
    check_size(out, lo, hi, source, key);
}

// A model config is held to the same limits as the flags that make one (flag_checks.hpp): a
// model file is not trusted to be sane.

// Refuses a config whose parameter count (an upper estimate, in double to avoid overflow) is over
// kMaxParameters, before any weight is allocated.
void check_parameter_budget(double estimate, const std::string& source) {
    if (estimate > static_cast<double>(kMaxParameters))
        throw BadInput(source + ": model config asks for about " + fmt("%.3g", estimate) + " parameters (at most " +
                       std::to_string(kMaxParameters) + " accepted)");
}
}  // namespace

nlohmann::json model_config_json(const nn::VelocityMLPConfig& cfg) {
    return {{"model", "velocity_mlp"},        {"data_dim", cfg.data_dim},
            {"hidden", cfg.hidden},           {"depth", cfg.depth},
            {"activation", cfg.activation},   {"time_embedding", cfg.time_embedding},
            {"embedding_dim", cfg.embedding_dim}};
}

nn::VelocityMLPConfig model_config_from_json(const nlohmann::json& j, const std::string& source) {
    nn::VelocityMLPConfig cfg;
    auto get = [&](const char* key, auto& out) { read_key(j, key, out, source); };
    std::string model;
    get("model", model);
    if (model != "velocity_mlp") throw BadInput(source + ": unknown model '" + model + "'");
    read_size(j, "data_dim", cfg.data_dim, 1, kMaxWidth, source);
    read_size(j, "hidden", cfg.hidden, 1, kMaxWidth, source);
    read_size(j, "depth", cfg.depth, 1, kMaxDepth, source);
    get("activation", cfg.activation);
    get("time_embedding", cfg.time_embedding);
    read_size(j, "embedding_dim", cfg.embedding_dim, 0, kMaxWidth, source);
    const double h = static_cast<double>(cfg.hidden);
    check_parameter_budget(h * (cfg.data_dim + cfg.embedding_dim + 2) * 2 + cfg.depth * h * (h + 1), source);
    return cfg;
}

nlohmann::json model_config_json(const nn::UNetConfig& c) {
    return {{"model", "unet"},          {"in_channels", c.in_channels},   {"image_size", c.image_size},
            {"base_channels", c.base_channels}, {"channel_mults", c.channel_mults}, {"res_blocks", c.res_blocks},
            {"attention_levels", c.attention_levels}, {"heads", c.heads}, {"num_classes", c.num_classes},
            {"dropout", c.dropout},     {"groups", c.groups}};
}

nn::UNetConfig unet_config_from_json(const nlohmann::json& j, const std::string& source) {
    nn::UNetConfig c;
    auto get = [&](const char* key, auto& out) { read_key(j, key, out, source); };
    read_size(j, "in_channels", c.in_channels, 1, 64, source);
    read_size(j, "image_size", c.image_size, 1, kMaxImageSize, source);
    read_size(j, "base_channels", c.base_channels, 1, kMaxWidth, source);
    get("channel_mults", c.channel_mults);
    check_size(static_cast<int64_t>(c.channel_mults.size()), 1, 8, source, "channel_mults' length");
    read_size(j, "res_blocks", c.res_blocks, 1, 64, source);
    get("attention_levels", c.attention_levels);
    check_size(static_cast<int64_t>(c.attention_levels.size()), 0, 8, source, "attention_levels' length");
    read_size(j, "heads", c.heads, 1, 1024, source);
    read_size(j, "num_classes", c.num_classes, 0, kMaxClasses, source);
    get("dropout", c.dropout);
    read_size(j, "groups", c.groups, 1, kMaxWidth, source);
    double estimate = static_cast<double>(c.num_classes + 1) * c.base_channels * 4;
    for (size_t i = 0; i < c.channel_mults.size(); ++i) {
        check_size(c.channel_mults[i], 1, 64, source, "channel_mults[" + std::to_string(i) + "]");
        const double ch = static_cast<double>(c.base_channels) * c.channel_mults[i];
        estimate += 64.0 * (c.res_blocks + 1) * ch * ch;  // down and up convolutions, attention, skips
    }
    check_parameter_budget(estimate, source);
    return c;
}

nlohmann::json model_config_json(const nn::DiTConfig& c) {
    return {{"model", "dit"},        {"in_channels", c.in_channels}, {"image_size", c.image_size},
            {"patch", c.patch},      {"dim", c.dim},                 {"depth", c.depth},
            {"heads", c.heads},      {"mlp_ratio", c.mlp_ratio},     {"num_classes", c.num_classes},
            {"attention", c.attention}, {"kv_heads", c.kv_heads},   {"kv_latent", c.kv_latent},
            {"q_latent", c.q_latent}, {"rope_dim", c.rope_dim},     {"rope", c.rope},
            {"scale", c.scale}};
}

namespace {

std::string to_hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) out += digits[b >> 4], out += digits[b & 15];
    return out;
}

std::string from_hex(const std::string& hex, const std::string& source) {
    auto value = [&](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        throw BadInput(source + ": tokenizer piece '" + hex + "' is not lowercase hex");
    };
    if (hex.size() % 2) throw BadInput(source + ": tokenizer piece '" + hex + "' has an odd number of hex digits");
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(value(hex[i]) * 16 + value(hex[i + 1]));
    return out;
}

}  // namespace

nlohmann::json model_config_json(const nn::TextDiT& m) {
    const nn::TextDiTConfig& c = m.config();
    nlohmann::json pieces = nlohmann::json::array(), logp = nlohmann::json::array();
    for (int64_t i = 0; i < m.tokenizer().vocab_size(); ++i) {
        pieces.push_back(to_hex(m.tokenizer().piece(i)));
        logp.push_back(m.tokenizer().log_prob(i));
    }
    nlohmann::json j = model_config_json(c.dit);
    j["model"] = "text-dit";
    j["encoder"] = {{"max_tokens", c.encoder.max_tokens}, {"dim", c.encoder.dim},       {"depth", c.encoder.depth},
                    {"heads", c.encoder.heads},           {"attention", c.encoder.attention},
                    {"kv_heads", c.encoder.kv_heads}};
    j["captions"] = {{"phrases", c.captions.phrases}, {"templates", c.captions.templates}};
    j["sampling_alpha"] = c.sampling_alpha;
    j["caption_seed"] = c.seed;
    j["tokenizer"] = {{"pieces_hex", pieces}, {"log_probs", logp}};
    return j;
}

std::unique_ptr<nn::TextDiT> text_dit_from_json(const nlohmann::json& j, const std::string& source, Generator& init) {
    nn::TextDiTConfig c;
    c.dit = dit_config_from_json(j, source);
    std::vector<std::pair<std::string, double>> vocab;
    try {
        const auto& e = j.at("encoder");
        const std::string encoder = source + ": encoder";
        read_size(e, "max_tokens", c.encoder.max_tokens, 1, 4096, encoder);
        read_size(e, "dim", c.encoder.dim, 1, kMaxWidth, encoder);
        read_size(e, "depth", c.encoder.depth, 0, kMaxDepth, encoder);
        read_size(e, "heads", c.encoder.heads, 1, 1024, encoder);
        c.encoder.attention = e.at("attention");
        read_size(e, "kv_heads", c.encoder.kv_heads, 0, c.encoder.heads, encoder);
        check_parameter_budget(c.encoder.depth * 12.0 * c.encoder.dim * c.encoder.dim, encoder);
        c.captions.phrases = j.at("captions").at("phrases").get<std::vector<std::vector<std::string>>>();
        c.captions.templates = j.at("captions").at("templates").get<std::vector<std::string>>();
        c.sampling_alpha = j.at("sampling_alpha");
        c.seed = j.at("caption_seed");
        const auto hex = j.at("tokenizer").at("pieces_hex").get<std::vector<std::string>>();
        const auto logp = j.at("tokenizer").at("log_probs").get<std::vector<double>>();
        if (hex.size() != logp.size()) throw BadInput(source + ": tokenizer pieces and log_probs differ in length");
        for (size_t i = 0; i < hex.size(); ++i) vocab.emplace_back(from_hex(hex[i], source), logp[i]);
    } catch (const nlohmann::json::exception& e) {
        throw BadInput(source + ": text-dit config is incomplete (" + e.what() + ")");
    }
    return as_input([&] { return std::make_unique<nn::TextDiT>(c, data::UnigramTokenizer(vocab), init); });
}

nn::DiTConfig dit_config_from_json(const nlohmann::json& j, const std::string& source) {
    nn::DiTConfig c;
    auto get = [&](const char* key, auto& out) { read_key(j, key, out, source); };
    read_size(j, "in_channels", c.in_channels, 1, 64, source);
    read_size(j, "image_size", c.image_size, 1, kMaxImageSize, source);
    read_size(j, "patch", c.patch, 1, c.image_size, source);
    read_size(j, "dim", c.dim, 1, kMaxWidth, source);
    read_size(j, "depth", c.depth, 1, kMaxDepth, source);
    read_size(j, "heads", c.heads, 1, 1024, source);
    read_size(j, "mlp_ratio", c.mlp_ratio, 1, 64, source);
    read_size(j, "num_classes", c.num_classes, 0, kMaxClasses, source);
    get("attention", c.attention);
    read_size(j, "kv_heads", c.kv_heads, 0, c.heads, source);
    read_size(j, "kv_latent", c.kv_latent, 0, kMaxWidth, source);
    read_size(j, "q_latent", c.q_latent, 0, kMaxWidth, source);
    read_size(j, "rope_dim", c.rope_dim, 0, kMaxWidth, source);
    get("rope", c.rope);
    get("scale", c.scale);
    const double d = static_cast<double>(c.dim), tokens = std::pow(static_cast<double>(c.image_size / c.patch), 2);
    check_parameter_budget(c.depth * d * (d * (10.0 + 2 * c.mlp_ratio) + 4 * (c.kv_latent + c.q_latent + c.rope_dim)) +
                               (c.num_classes + 1 + tokens) * d + 2.0 * c.patch * c.patch * c.in_channels * d,
                           source);
    return c;
}

std::unique_ptr<nn::Classifier> load_classifier(const std::string& path) {
    io::Checkpoint c = as_input([&] { return io::load_checkpoint(path); });
    nlohmann::json j = nlohmann::json::parse(c.config, nullptr, false);
    if (!j.is_object() || !j.contains("classifier_config")) throw BadInput(path + ": not a classifier written by rflow train-classifier");
    nn::ClassifierConfig cc;
    try {
        const auto& k = j["classifier_config"];
        const std::string source = path + ": classifier_config";
        read_size(k, "in_channels", cc.in_channels, 1, 64, source);
        read_size(k, "image_size", cc.image_size, 4, kMaxImageSize, source);
        read_size(k, "num_classes", cc.num_classes, 1, kMaxClasses, source);
        read_size(k, "width", cc.width, 1, 4096, source);
        read_size(k, "features", cc.features, 1, kMaxWidth, source);
        const double w = static_cast<double>(cc.width);
        check_parameter_budget(w * w * 18 + w * 9 * cc.in_channels +
                                   (cc.image_size / 4.0) * (cc.image_size / 4.0) * 2 * w * cc.features +
                                   static_cast<double>(cc.features) * cc.num_classes,
                               source);
    } catch (const nlohmann::json::exception&) {
        throw BadInput(path + ": classifier_config is incomplete");
    }
    Generator g(0);
    auto m = std::make_unique<nn::Classifier>(cc, g);
    as_input([&] {
        m->load_state_dict(c.model);
        return 0;
    });
    m->eval();
    return m;
}

Tensor classify(nn::Classifier& c, const Tensor& images, bool features) {
    NoGradGuard ng;
    std::vector<Tensor> parts;
    for (int64_t i = 0; i < images.size(0); i += 500) {
        Tensor x = images.slice(0, i, std::min<int64_t>(i + 500, images.size(0)));
        parts.push_back(features ? c.features(x) : c.forward(x));
    }
    return concat(parts, 0);
}

nn::VelocityMLP& LoadedModel::mlp() const {
    auto* m = dynamic_cast<nn::VelocityMLP*>(model.get());
    if (!m) throw BadInput(path + ": this command needs a 2-D point model, not an image model");
    return *m;
}

LoadedModel load_model(const std::string& path, bool use_ema) {
    io::Checkpoint c = as_input([&] { return io::load_checkpoint(path); });
    LoadedModel m;
    m.path = path;
    try {
        m.config = nlohmann::json::parse(c.config);
    } catch (const nlohmann::json::exception&) {
        throw BadInput(path + ": metadata 'config' is not JSON");
    }
    if (!m.config.is_object() || !m.config.contains("model_config"))
        throw BadInput(path + ": config lacks 'model_config' (not written by rflow train?)");
    // keys the commands read later: their types are checked here, where the file is known
    for (const char* key : {"label", "dataset", "data_csv", "kind"})
        if (m.config.contains(key) && !m.config[key].is_string())
            throw BadInput(path + ": config key '" + key + "' is " + m.config[key].dump().substr(0, 40) + " (expected a string)");
    for (const char* key : {"distill_k", "rectified"})
        if (m.config.contains(key) && !m.config[key].is_number_integer())
            throw BadInput(path + ": config key '" + key + "' is " + m.config[key].dump().substr(0, 40) +
                           " (expected an integer)");
    const nlohmann::json& mj = m.config["model_config"];
    Generator init(0);
    if (mj.is_object() && mj.value("model", std::string()) == "unet") {
        nn::UNetConfig uc = unet_config_from_json(mj, path);
        m.model = as_input([&] { return std::make_unique<nn::UNet>(uc, init); });
        m.sample_shape = {uc.in_channels, uc.image_size, uc.image_size};
        m.is_image = true;
    } else if (mj.is_object() && mj.value("model", std::string()) == "text-dit") {
        m.model = text_dit_from_json(mj, path, init);
        const nn::DiTConfig& dc = static_cast<nn::TextDiT&>(*m.model).config().dit;
        m.sample_shape = {dc.in_channels, dc.image_size, dc.image_size};
        m.is_image = true;
    } else if (mj.is_object() && mj.value("model", std::string()) == "dit") {
        nn::DiTConfig dc = dit_config_from_json(mj, path);
        m.model = as_input([&] { return std::make_unique<nn::DiT>(dc, init); });
        m.sample_shape = {dc.in_channels, dc.image_size, dc.image_size};
        m.is_image = true;
    } else {
        nn::VelocityMLPConfig mc = model_config_from_json(mj, path);
        m.model = as_input([&] { return std::make_unique<nn::VelocityMLP>(mc, init); });
        m.sample_shape = {mc.data_dim};
    }
    m.model->eval();
    std::unique_ptr<nn::LoRAModel> lora;  // a LoRA fine-tune: the same adapters, then merged
    if (m.config.contains("lora")) {
        nn::LoRATargets targets;
        nn::LoRAConfig lc;
        lora_from_json(m.config["lora"], path, targets, lc);
        lc.init = "default";  // the stored weights already carry any init's correction
        lora = as_input([&] { return std::make_unique<nn::LoRAModel>(*m.model, targets, lc, init); });
    }
    as_input([&] {
        m.model->load_state_dict(c.model);
        return 0;
    });
    if (use_ema) {
        // EMA shadows are stored as optimizer state "ema.shadow.<i>", one per parameter in order
        std::vector<Tensor> params = m.model->parameters();
        std::vector<Tensor> shadows;
        for (size_t i = 0; i < params.size(); ++i)
            for (const auto& [k, t] : c.optimizer)
                if (k == "ema.shadow." + std::to_string(i)) shadows.push_back(t);
        if (shadows.size() == params.size()) {
            NoGradGuard ng;
            for (size_t i = 0; i < params.size(); ++i) params[i].copy_(shadows[i]);
        }
    }
    if (lora) {
        lora->merge();
        lora.reset();  // detaches the adapters; the merged weights stay
    }
    m.model->to(cli_device());
    return m;
}

samplers::VelocityField velocity_of(nn::VelocityModel& model) {
    return [&model](const Tensor& x, const Tensor& t) { return model.forward(x, t); };
}

Tensor load_csv_points(const DataSpec& spec) {
    Tensor points = as_input([&] { return data::load_points_csv(spec.csv); });
    if (points.dim() != 2 || points.size(0) == 0) throw BadInput(spec.csv + ": no points");
    if (points.size(1) != spec.dim)
        throw BadInput(spec.csv + ": rows have " + std::to_string(points.size(1)) + " columns, but the model's points have " +
                       std::to_string(spec.dim) + " (one column per coordinate: x,y)");
    return points;
}

trainers::DataSource make_data_source(const DataSpec& spec) {
    if (spec.csv.empty()) {
        as_input([&] {
            Generator g(0);
            return data::sample_toy(spec.dataset, 1, g);  // validates the name
        });
        return [name = spec.dataset](int64_t n, Generator& g) { return data::sample_toy(name, n, g); };
    }
    Tensor points = load_csv_points(spec);
    return [points](int64_t n, Generator& g) {
        std::vector<int64_t> idx(n);
        g.randint(idx.data(), n, 0, points.size(0));
        NoGradGuard ng;
        return index_select(points, 0, idx);
    };
}

Tensor reference_points(const DataSpec& spec, int64_t n, uint64_t seed) {
    Generator g(seed, 3);
    if (spec.csv.empty()) return as_input([&] { return data::sample_toy(spec.dataset, n, g); });
    Tensor points = load_csv_points(spec);
    return points.slice(0, 0, std::min<int64_t>(n, points.size(0))).contiguous();
}

void add_sampling_flags(CLI::App* app, SamplingFlags& f, const std::string& method_help, bool steps_alias) {
    std::string names;
    for (const auto& n : samplers::sampler_names()) names += (names.empty() ? "" : ", ") + n;
    app->add_option("--sampling-method", f.method, method_help.empty() ? "ODE solver: " + names : method_help)
        ->capture_default_str()->check(CLI::IsMember(samplers::sampler_names()));
    app->add_option(steps_alias ? "--sample-steps,--steps" : "--sample-steps", f.steps, "Steps of a fixed-step solver")
        ->capture_default_str()->transform(count_in(1, kMaxSolverSteps));
    app->add_option("--rtol", f.rtol, "Relative tolerance of adaptive solvers")->capture_default_str()->check(tolerance());
    app->add_option("--atol", f.atol, "Absolute tolerance of adaptive solvers")->capture_default_str()->check(tolerance());
}

samplers::SamplerOptions sampler_options(const SamplingFlags& f) {
    samplers::SamplerOptions o;
    o.steps = f.steps;
    o.rtol = f.rtol;
    o.atol = f.atol;
    return o;
}

nlohmann::json lora_json(const nn::LoRATargets& targets, const nn::LoRAConfig& cfg) {
    return {{"targets", targets.targets}, {"rank_pattern", targets.rank_pattern}, {"alpha_pattern", targets.alpha_pattern},
            {"rank", cfg.rank},          {"alpha", cfg.alpha},                   {"dropout", cfg.dropout},
            {"rslora", cfg.rslora},      {"dora", cfg.dora},                     {"init", cfg.init}};
}

void lora_from_json(const nlohmann::json& j, const std::string& source, nn::LoRATargets& targets, nn::LoRAConfig& cfg) {
    try {
        targets.targets = j.at("targets").get<std::vector<std::string>>();
        targets.rank_pattern = j.at("rank_pattern").get<std::map<std::string, int64_t>>();
        targets.alpha_pattern = j.at("alpha_pattern").get<std::map<std::string, float>>();
        cfg.rank = j.at("rank").get<int64_t>();
        cfg.alpha = j.at("alpha").get<float>();
        cfg.dropout = j.at("dropout").get<float>();
        cfg.rslora = j.at("rslora").get<bool>();
        cfg.dora = j.at("dora").get<bool>();
        cfg.init = j.at("init").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
        throw BadInput(source + ": config 'lora': " + e.what());
    }
    check_size(cfg.rank, 1, kMaxWidth, source, "lora.rank");
    for (const auto& [pattern, rank] : targets.rank_pattern) check_size(rank, 1, kMaxWidth, source, "lora.rank_pattern." + pattern);
}

void merge_loras(nn::Module& model, const std::vector<std::string>& specs) {
    for (const std::string& spec : specs) {
        std::string path = spec;
        float weight = 1.f;
        const size_t colon = spec.rfind(':');
        if (colon != std::string::npos && colon + 1 < spec.size()) {
            char* end = nullptr;
            const float w = std::strtof(spec.c_str() + colon + 1, &end);
            if (end && *end == '\0') {
                path = spec.substr(0, colon);
                weight = w;
            }
        }
        try {
            std::unique_ptr<nn::LoRAModel> lora = nn::load_lora_adapter(path, model, weight);
            lora->merge();
        } catch (const Error& e) {
            throw BadInput("--lora " + spec + ": " + e.what());
        }
    }
}

Tensor sample_model(nn::VelocityModel& model, const Shape& sample_shape, int64_t n, uint64_t seed,
                    const SamplingFlags& f, int64_t* nfe, std::vector<Tensor>* trajectory,
                    const std::vector<int64_t>& labels, float cfg_scale, const std::string& prompt) {
    NoGradGuard ng;
    auto sampler = as_input([&] { return samplers::make_sampler(f.method); });
    samplers::SamplerOptions o = sampler_options(f);
    o.record_trajectory = trajectory != nullptr;
    Generator g(seed, 2);
    Shape s{n};
    s.insert(s.end(), sample_shape.begin(), sample_shape.end());
    Tensor x0 = Tensor::normal(s, g).to(model.device());  // drawn on the host: the same on every device
    samplers::VelocityField v = velocity_of(model);
    if (!prompt.empty()) {
        auto* text = dynamic_cast<nn::TextDiT*>(&model);
        if (!text) throw BadInput("--prompt needs a text-conditioned model (train-images --text)");
        // guidance of the prompt against the empty prompt, the same mechanism as for labels
        v = trainers::guided_velocity(
            [text, prompt](const Tensor& x, const Tensor& t, const std::vector<bool>& conditional) {
                std::vector<std::string> prompts;
                for (bool c : conditional) prompts.push_back(c ? prompt : std::string());
                return text->forward_prompts(x, t, prompts);
            },
            cfg_scale);
    } else if (!labels.empty()) {
        v = trainers::guided_velocity(model, labels, cfg_scale);
        o.per_sample = false;  // the labels belong to whole-batch calls
    }
    const bool was_training = model.is_training();
    model.eval();
    samplers::SampleResult r = sampler->sample(v, x0, o);
    model.train(was_training);
    if (r.budget_exhausted)
        std::fprintf(stderr, "warning: %s stopped at its step budget before t = 1\n", f.method.c_str());
    if (nfe) *nfe = r.nfe;
    if (trajectory) {
        trajectory->clear();
        for (const Tensor& x : r.trajectory) trajectory->push_back(x.to(Device::cpu));
    }
    return r.x.to(Device::cpu);
}

namespace {
std::string& device_flag() {
    static std::string d = "cpu";
    return d;
}
}  // namespace

void add_device_flag(CLI::App* app) {
    app->add_option("--device", device_flag(),
                    "Where the network runs: cpu, or cuda (an NVIDIA GPU; needs a CUDA build, see `rflow info`). "
                    "Noise, times and batches are drawn on the host, so a seed gives the same run on either")
        ->check(CLI::IsMember({"cpu", "cuda"}))
        ->capture_default_str();
}

Device cli_device() {
    if (device_flag() == "cpu") return Device::cpu;
    if (!cuda_available())
        throw BadInput("--device cuda: no CUDA GPU answers on this machine (`rflow info` shows the build); use "
                       "--device cpu");
    return Device::cuda;
}

const CLI::Validator& positive() { return finite_positive(); }

float plot_extent(const Tensor& reference) {
    std::vector<float> v = reference.to_vector();
    for (float& x : v) x = std::fabs(x);
    if (v.empty()) return 3.f;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() * 0.995), v.end());
    const float q = v[static_cast<size_t>(v.size() * 0.995)];
    return std::max(1.f, std::ceil(q * 1.25f * 2.f) / 2.f);
}

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

}  // namespace rflow::cli
