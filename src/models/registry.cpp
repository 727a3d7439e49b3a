// The model registry (rflow/models.hpp): model configs as JSON, checked like untrusted input,
// and networks rebuilt from them or from checkpoints.
#include "rflow/models.hpp"

#include <cmath>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/safetensors.hpp"

namespace rflow {

using namespace model_limits;
using nlohmann::json;

namespace {

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

json parse_object(const std::string& text, const std::string& source, const std::string& what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(source + ": " + what + " is not a JSON object");
    return j;
}

// Reads one key of a model config, with an error naming the file and the key.
template <class T>
void read_key(const json& j, const char* key, T& out, const std::string& source) {
    if (!j.contains(key)) throw Error(source + ": model config lacks '" + key + "'");
    try {
        j.at(key).get_to(out);
    } catch (const json::exception&) {
        throw Error(source + ": model config key '" + key + "' has the wrong type");
    }
}

// A size read from a file must be an integer in [lo, hi] before anything is allocated from it.
void check_size(int64_t value, int64_t lo, int64_t hi, const std::string& source, const std::string& key) {
    if (value < lo || value > hi)
        throw Error(source + ": model config key '" + key + "' is " + std::to_string(value) + " (expected " +
                    std::to_string(lo) + " to " + std::to_string(hi) + ")");
}

// An integer key of a model config, in [lo, hi]; floats and out-of-range numbers are refused.
void read_size(const json& j, const char* key, int64_t& out, int64_t lo, int64_t hi, const std::string& source) {
    if (!j.contains(key)) throw Error(source + ": model config lacks '" + key + "'");
    const json& v = j.at(key);
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
        throw Error(source + ": model config key '" + key + "' is " + v.dump() + " (expected " + std::to_string(lo) +
                    " to " + std::to_string(hi) + ")");
    if (!v.is_number_integer())
        throw Error(source + ": model config key '" + key + "' is " + v.dump().substr(0, 40) + " (expected an integer)");
    out = v.get<int64_t>();
    check_size(out, lo, hi, source, key);
}

// Refuses a config whose parameter count (an upper estimate, in double to avoid overflow) is over
// kMaxParameters, before any weight is allocated.
void check_parameter_budget(double estimate, const std::string& source) {
    if (estimate > static_cast<double>(kMaxParameters))
        throw Error(source + ": model config asks for about " + number(estimate) + " parameters (at most " +
                    std::to_string(kMaxParameters) + " accepted)");
}

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
        throw Error(source + ": tokenizer piece '" + hex + "' is not lowercase hex");
    };
    if (hex.size() % 2) throw Error(source + ": tokenizer piece '" + hex + "' has an odd number of hex digits");
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(value(hex[i]) * 16 + value(hex[i + 1]));
    return out;
}

json mlp_json(const nn::VelocityMLPConfig& cfg) {
    return {{"model", "velocity_mlp"},        {"data_dim", cfg.data_dim},
            {"hidden", cfg.hidden},           {"depth", cfg.depth},
            {"activation", cfg.activation},   {"time_embedding", cfg.time_embedding},
            {"embedding_dim", cfg.embedding_dim}};
}

nn::VelocityMLPConfig mlp_from(const json& j, const std::string& source) {
    nn::VelocityMLPConfig cfg;
    auto get = [&](const char* key, auto& out) { read_key(j, key, out, source); };
    std::string model;
    get("model", model);
    if (model != "velocity_mlp") throw Error(source + ": unknown model '" + model + "'");
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

json unet_json(const nn::UNetConfig& c) {
    return {{"model", "unet"},          {"in_channels", c.in_channels},   {"image_size", c.image_size},
            {"base_channels", c.base_channels}, {"channel_mults", c.channel_mults}, {"res_blocks", c.res_blocks},
            {"attention_levels", c.attention_levels}, {"heads", c.heads}, {"num_classes", c.num_classes},
            {"dropout", c.dropout},     {"groups", c.groups}};
}

nn::UNetConfig unet_from(const json& j, const std::string& source) {
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
    read_size(j, "heads", c.heads, 1, kMaxHeads, source);
    read_size(j, "num_classes", c.num_classes, 0, kMaxClasses, source);
    get("dropout", c.dropout);
    read_size(j, "groups", c.groups, 1, kMaxWidth, source);
    double estimate = static_cast<double>(c.num_classes + 1) * c.base_channels * 4;
    for (size_t i = 0; i < c.channel_mults.size(); ++i) {
        check_size(c.channel_mults[i], 1, kMaxChannelMult, source, "channel_mults[" + std::to_string(i) + "]");
        const double ch = static_cast<double>(c.base_channels) * c.channel_mults[i];
        estimate += 64.0 * (c.res_blocks + 1) * ch * ch;  // down and up convolutions, attention, skips
    }
    check_parameter_budget(estimate, source);
    return c;
}

json dit_json(const nn::DiTConfig& c) {
    return {{"model", "dit"},        {"in_channels", c.in_channels}, {"image_size", c.image_size},
            {"patch", c.patch},      {"dim", c.dim},                 {"depth", c.depth},
            {"heads", c.heads},      {"mlp_ratio", c.mlp_ratio},     {"num_classes", c.num_classes},
            {"attention", c.attention}, {"kv_heads", c.kv_heads},   {"kv_latent", c.kv_latent},
            {"q_latent", c.q_latent}, {"rope_dim", c.rope_dim},     {"rope", c.rope},
            {"scale", c.scale}};
}

nn::DiTConfig dit_from(const json& j, const std::string& source) {
    nn::DiTConfig c;
    auto get = [&](const char* key, auto& out) { read_key(j, key, out, source); };
    read_size(j, "in_channels", c.in_channels, 1, 64, source);
    read_size(j, "image_size", c.image_size, 1, kMaxImageSize, source);
    read_size(j, "patch", c.patch, 1, c.image_size, source);
    read_size(j, "dim", c.dim, 1, kMaxWidth, source);
    read_size(j, "depth", c.depth, 1, kMaxDepth, source);
    read_size(j, "heads", c.heads, 1, kMaxHeads, source);
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

std::unique_ptr<nn::TextDiT> text_dit_from(const json& j, const std::string& source, Generator& init) {
    nn::TextDiTConfig c;
    c.dit = dit_from(j, source);
    std::vector<std::pair<std::string, double>> vocab;
    try {
        const auto& e = j.at("encoder");
        const std::string encoder = source + ": encoder";
        read_size(e, "max_tokens", c.encoder.max_tokens, 1, 4096, encoder);
        read_size(e, "dim", c.encoder.dim, 1, kMaxWidth, encoder);
        read_size(e, "depth", c.encoder.depth, 0, kMaxDepth, encoder);
        read_size(e, "heads", c.encoder.heads, 1, kMaxHeads, encoder);
        c.encoder.attention = e.at("attention");
        read_size(e, "kv_heads", c.encoder.kv_heads, 0, c.encoder.heads, encoder);
        check_parameter_budget(c.encoder.depth * 12.0 * c.encoder.dim * c.encoder.dim, encoder);
        c.captions.phrases = j.at("captions").at("phrases").get<std::vector<std::vector<std::string>>>();
        c.captions.templates = j.at("captions").at("templates").get<std::vector<std::string>>();
        c.sampling_alpha = j.at("sampling_alpha");
        c.seed = j.at("caption_seed");
        const auto hex = j.at("tokenizer").at("pieces_hex").get<std::vector<std::string>>();
        const auto logp = j.at("tokenizer").at("log_probs").get<std::vector<double>>();
        if (hex.size() != logp.size()) throw Error(source + ": tokenizer pieces and log_probs differ in length");
        for (size_t i = 0; i < hex.size(); ++i) vocab.emplace_back(from_hex(hex[i], source), logp[i]);
    } catch (const json::exception& e) {
        throw Error(source + ": text-dit config is incomplete (" + e.what() + ")");
    }
    return std::make_unique<nn::TextDiT>(c, data::UnigramTokenizer(vocab), init);
}

LoadedModel build_from(const json& mj, Generator& init, const std::string& source) {
    LoadedModel m;
    if (!mj.is_object()) throw Error(source + ": model config is not a JSON object");
    m.kind = mj.value("model", std::string());
    if (m.kind == "unet") {
        const nn::UNetConfig uc = unet_from(mj, source);
        m.model = std::make_unique<nn::UNet>(uc, init);
        m.sample_shape = {uc.in_channels, uc.image_size, uc.image_size};
    } else if (m.kind == "text-dit") {
        m.model = text_dit_from(mj, source, init);
        const nn::DiTConfig& dc = static_cast<nn::TextDiT&>(*m.model).config().dit;
        m.sample_shape = {dc.in_channels, dc.image_size, dc.image_size};
    } else if (m.kind == "dit") {
        const nn::DiTConfig dc = dit_from(mj, source);
        m.model = std::make_unique<nn::DiT>(dc, init);
        m.sample_shape = {dc.in_channels, dc.image_size, dc.image_size};
    } else {
        const nn::VelocityMLPConfig mc = mlp_from(mj, source);  // names an unknown "model"
        m.model = std::make_unique<nn::VelocityMLP>(mc, init);
        m.sample_shape = {mc.data_dim};
    }
    m.is_image = m.sample_shape.size() == 3;
    m.model->eval();
    return m;
}

}  // namespace

std::string model_config_json(const nn::VelocityMLPConfig& cfg) { return mlp_json(cfg).dump(); }
std::string model_config_json(const nn::UNetConfig& cfg) { return unet_json(cfg).dump(); }
std::string model_config_json(const nn::DiTConfig& cfg) { return dit_json(cfg).dump(); }

std::string model_config_json(const nn::TextDiT& m) {
    const nn::TextDiTConfig& c = m.config();
    json pieces = json::array(), logp = json::array();
    for (int64_t i = 0; i < m.tokenizer().vocab_size(); ++i) {
        pieces.push_back(to_hex(m.tokenizer().piece(i)));
        logp.push_back(m.tokenizer().log_prob(i));
    }
    json j = dit_json(c.dit);
    j["model"] = "text-dit";
    j["encoder"] = {{"max_tokens", c.encoder.max_tokens}, {"dim", c.encoder.dim},       {"depth", c.encoder.depth},
                    {"heads", c.encoder.heads},           {"attention", c.encoder.attention},
                    {"kv_heads", c.encoder.kv_heads}};
    j["captions"] = {{"phrases", c.captions.phrases}, {"templates", c.captions.templates}};
    j["sampling_alpha"] = c.sampling_alpha;
    j["caption_seed"] = c.seed;
    j["tokenizer"] = {{"pieces_hex", pieces}, {"log_probs", logp}};
    return j.dump();
}

nn::VelocityMLPConfig velocity_mlp_config_from_json(const std::string& text, const std::string& source) {
    return mlp_from(parse_object(text, source, "model config"), source);
}
nn::UNetConfig unet_config_from_json(const std::string& text, const std::string& source) {
    return unet_from(parse_object(text, source, "model config"), source);
}
nn::DiTConfig dit_config_from_json(const std::string& text, const std::string& source) {
    return dit_from(parse_object(text, source, "model config"), source);
}

std::string lora_config_json(const nn::LoRATargets& targets, const nn::LoRAConfig& cfg) {
    return json{{"targets", targets.targets}, {"rank_pattern", targets.rank_pattern}, {"alpha_pattern", targets.alpha_pattern},
                {"rank", cfg.rank},          {"alpha", cfg.alpha},                   {"dropout", cfg.dropout},
                {"rslora", cfg.rslora},      {"dora", cfg.dora},                     {"init", cfg.init}}
        .dump();
}

void lora_config_from_json(const std::string& text, const std::string& source, nn::LoRATargets& targets,
                           nn::LoRAConfig& cfg) {
    const json j = parse_object(text, source, "config 'lora'");
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
    } catch (const json::exception& e) {
        throw Error(source + ": config 'lora': " + e.what());
    }
    check_size(cfg.rank, 1, kMaxWidth, source, "lora.rank");
    for (const auto& [pattern, rank] : targets.rank_pattern)
        check_size(rank, 1, kMaxWidth, source, "lora.rank_pattern." + pattern);
}

LoadedModel build_model(const std::string& model_config, Generator& init, const std::string& source) {
    LoadedModel m = build_from(parse_object(model_config, source, "model config"), init, source);
    m.config = model_config;
    return m;
}

LoadedModel load_model(const std::string& path, bool use_ema) {
    io::Checkpoint c = io::load_checkpoint(path);
    const json config = parse_object(c.config, path, "metadata 'config'");
    if (!config.contains("model_config")) throw Error(path + ": config lacks 'model_config' (not written by rflow train?)");
    Generator init(0);
    LoadedModel m = build_from(config["model_config"], init, path);
    m.config = c.config;
    m.path = path;
    m.step = c.step;
    std::unique_ptr<nn::LoRAModel> lora;  // a LoRA fine-tune: the same adapters, then merged
    if (config.contains("lora")) {
        nn::LoRATargets targets;
        nn::LoRAConfig lc;
        lora_config_from_json(config["lora"].dump(), path, targets, lc);
        lc.init = "default";  // the stored weights already carry any init's correction
        lora = std::make_unique<nn::LoRAModel>(*m.model, targets, lc, init);
    }
    try {
        m.model->load_state_dict(c.model);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    if (use_ema) {
        // EMA shadows are stored as optimizer state "ema.shadow.<i>", one per parameter in order
        std::map<std::string, Tensor> optimizer(c.optimizer.begin(), c.optimizer.end());
        std::vector<Tensor> params = m.model->parameters();
        std::vector<Tensor> shadows;
        for (size_t i = 0; i < params.size(); ++i) {
            auto it = optimizer.find("ema.shadow." + std::to_string(i));
            if (it == optimizer.end()) break;
            shadows.push_back(it->second);
        }
        if (shadows.size() == params.size()) {
            NoGradGuard ng;
            for (size_t i = 0; i < params.size(); ++i) {
                if (shadows[i].shape() != params[i].shape())
                    throw Error(path + ": EMA shadow " + std::to_string(i) + " does not match its parameter's shape");
                params[i].copy_(shadows[i]);
            }
        }
    }
    if (lora) {
        lora->merge();
        lora.reset();  // detaches the adapters; the merged weights stay
    }
    return m;
}

void export_weights(const std::string& path, const nn::Module& model, const std::string& model_config, io::DType dtype) {
    RFLOW_CHECK(dtype == io::DType::F32 || dtype == io::DType::F16 || dtype == io::DType::BF16,
                path << ": weights are written as F32, F16 or BF16, not " << io::dtype_name(dtype));
    parse_object(model_config, path, "model config");  // only valid configs travel with weights
    io::save_weights(path, model.state_dict(), {{"format", "rflow-weights-1"}, {"model_config", model_config}}, dtype);
}

LoadedModel import_weights(const std::string& path, const std::string& model_config, const std::string& config_source) {
    const io::SafetensorsFile f = io::read_safetensors(path);
    std::string config = model_config, source = config_source;
    if (config.empty()) {
        source = path;
        for (const auto& [key, value] : f.metadata)
            if (key == "model_config") config = value;
        if (config.empty())
            throw Error(path + ": no model config given, and the file has no 'model_config' metadata (plain "
                               "state_dicts need the config of the network they belong to)");
    }
    Generator init(0);
    LoadedModel m = build_model(config, init, source);
    m.path = path;
    // a prefix every name carries ("model." of a wrapped module, "module." of DataParallel) goes
    std::string prefix;
    for (const char* p : {"model.", "module."}) {
        bool all = !f.tensors.empty();
        for (const auto& kv : f.tensors) all = all && kv.first.rfind(p, 0) == 0;
        if (all) prefix = p;
    }
    io::TensorList state;
    for (const auto& [name, raw] : f.tensors)
        state.emplace_back(name.substr(prefix.size()), Tensor::from_vector(io::to_f32_finite(raw, path, name), raw.shape));
    try {
        m.model->load_state_dict(state);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    m.model->eval();
    return m;
}

std::string classifier_config_json(const nn::ClassifierConfig& cc) {
    return json{{"in_channels", cc.in_channels}, {"image_size", cc.image_size}, {"num_classes", cc.num_classes},
                {"width", cc.width},             {"features", cc.features}}
        .dump();
}

std::unique_ptr<nn::Classifier> load_classifier(const std::string& path) {
    io::Checkpoint c = io::load_checkpoint(path);
    const json j = json::parse(c.config, nullptr, false);
    if (!j.is_object() || !j.contains("classifier_config"))
        throw Error(path + ": not a classifier written by rflow train-classifier");
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
    } catch (const json::exception&) {
        throw Error(path + ": classifier_config is incomplete");
    }
    Generator g(0);
    auto m = std::make_unique<nn::Classifier>(cc, g);
    try {
        m->load_state_dict(c.model);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    m->eval();
    return m;
}

}  // namespace rflow
