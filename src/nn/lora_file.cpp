// PEFT adapter directories and kohya/diffusers LoRA files (see lora_file.hpp).
#include "rflow/nn/lora_file.hpp"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/io/safetensors.hpp"
#include "rflow/nn/linear.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

namespace fs = std::filesystem;

namespace {

const std::string kPeftPrefix = "base_model.model.";

io::RawTensor raw(const Tensor& t) {
    const std::vector<float> v = t.contiguous().to_vector();
    return io::from_f32(v.data(), t.shape());
}

// The tensor stored under `key` of `source`; an error naming both when it holds a NaN or infinity.
Tensor tensor_of(const io::RawTensor& r, const std::string& source, const std::string& key) {
    return Tensor::from_vector(io::to_f32_finite(r, source, key), r.shape);
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void copy_checked(Tensor dst, const Tensor& src, const std::string& key, const std::string& source) {
    RFLOW_CHECK(dst.shape() == src.shape(), source << ": '" << key << "' has shape " << shape_str(src.shape())
                                                   << ", the model needs " << shape_str(dst.shape()));
    NoGradGuard ng;
    dst.copy_(src);
}

std::string list_of(const std::vector<std::string>& keys) {
    std::string out;
    for (size_t i = 0; i < keys.size() && i < 8; ++i) out += (i ? ", '" : "'") + keys[i] + "'";
    if (keys.size() > 8) out += " and " + std::to_string(keys.size() - 8) + " more";
    return out;
}

// A LoRA rank from adapter_config.json: a whole number in [1, 65536] (a float such as 1e100 or an
// out-of-range integer would be undefined behaviour in a plain get<int64_t>()).
int64_t rank_value(const nlohmann::json& v, const std::string& source, const std::string& key) {
    RFLOW_CHECK(v.is_number_integer() && (v.is_number_unsigned() ? v.get<uint64_t>() <= 65536u
                                                                  : v.get<int64_t>() >= 1 && v.get<int64_t>() <= 65536),
                source << ": " << key << " is " << v.dump().substr(0, 80) << " (a whole number from 1 to 65536)");
    return v.get<int64_t>();
}

// PEFT directory: config first, then every tensor to its adapter.
std::unique_ptr<LoRAModel> load_peft(const fs::path& dir, Module& model, float weight) {
    const fs::path cfg_path = dir / "adapter_config.json", weights_path = dir / "adapter_model.safetensors";
    const std::vector<uint8_t> bytes = io::read_file(cfg_path.string());
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    io::check_json_depth(text, cfg_path.string(), "adapter config");
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    RFLOW_CHECK(j.is_object(), cfg_path.string() << ": not a JSON object");
    LoRAConfig cfg;
    LoRATargets targets;
    try {
        RFLOW_CHECK(j.value("peft_type", std::string("LORA")) == "LORA",
                    cfg_path.string() << ": peft_type is " << j.at("peft_type").dump() << ", only LORA is supported");
        cfg.rank = rank_value(j.at("r"), cfg_path.string(), "r");
        cfg.alpha = j.value("lora_alpha", static_cast<float>(cfg.rank));
        RFLOW_CHECK(std::isfinite(cfg.alpha), cfg_path.string() << ": lora_alpha is not a finite number");
        cfg.dropout = j.value("lora_dropout", 0.f);
        cfg.rslora = j.value("use_rslora", false);
        cfg.dora = j.value("use_dora", false);
        const nlohmann::json& tm = j.at("target_modules");
        if (tm.is_string()) {  // PEFT: a string is a regex
            try {
                compile_lora_target_regex(tm.get<std::string>());
            } catch (const Error& e) {
                RFLOW_FAIL(cfg_path.string() << ": target_modules: " << e.what());
            }
            targets.targets = {"re:" + tm.get<std::string>()};
        } else targets.targets = tm.get<std::vector<std::string>>();
        if (j.contains("rank_pattern")) {
            RFLOW_CHECK(j["rank_pattern"].is_object(), cfg_path.string() << ": rank_pattern is not an object");
            for (const auto& [module, r] : j["rank_pattern"].items())
                targets.rank_pattern[module] = rank_value(r, cfg_path.string(), "rank_pattern." + module);
        }
        if (j.contains("alpha_pattern")) targets.alpha_pattern = j["alpha_pattern"].get<std::map<std::string, float>>();
    } catch (const nlohmann::json::exception& e) {
        RFLOW_FAIL(cfg_path.string() << ": " << e.what());
    }
    Generator gen(0);
    std::unique_ptr<LoRAModel> lora;
    try {
        lora = std::make_unique<LoRAModel>(model, targets, cfg, gen);
    } catch (const Error& e) {
        RFLOW_FAIL(cfg_path.string() << ": " << e.what());
    }
    std::map<std::string, LoRA*> by_name;
    for (const auto& [name, a] : lora->adapters()) by_name[name] = a.get();
    const io::SafetensorsFile f = io::read_safetensors(weights_path.string());
    std::vector<std::string> unmatched;
    std::set<std::string> got_a, got_b;
    for (const auto& [key, r] : f.tensors) {
        std::string k = key.rfind(kPeftPrefix, 0) == 0 ? key.substr(kPeftPrefix.size()) : key;
        auto try_part = [&](const std::string& suffix) -> LoRA* {
            if (!ends_with(k, suffix)) return nullptr;
            auto it = by_name.find(k.substr(0, k.size() - suffix.size()));
            return it == by_name.end() ? nullptr : it->second;
        };
        if (LoRA* a = try_part(".lora_A.weight")) {
            copy_checked(a->A(), tensor_of(r, weights_path.string(), key), key, weights_path.string());
            got_a.insert(k);
        } else if (LoRA* b = try_part(".lora_B.weight")) {
            copy_checked(b->B(), tensor_of(r, weights_path.string(), key), key, weights_path.string());
            got_b.insert(k);
        } else if (LoRA* m = ends_with(k, ".weight") ? try_part(".lora_magnitude_vector.weight")
                                                     : try_part(".lora_magnitude_vector")) {
            RFLOW_CHECK(m->config().dora, weights_path.string() << ": '" << key << "' is a DoRA magnitude but the config has use_dora false");
            copy_checked(m->magnitude(), tensor_of(r, weights_path.string(), key), key, weights_path.string());
        } else {
            unmatched.push_back(key);
        }
    }
    RFLOW_CHECK(unmatched.empty(), weights_path.string() << ": " << unmatched.size()
                                                         << " key(s) match no adapted module: " << list_of(unmatched));
    RFLOW_CHECK(got_a.size() == by_name.size() && got_b.size() == by_name.size(),
                weights_path.string() << ": " << by_name.size() << " modules match the targets but the file has "
                                      << got_a.size() << " lora_A and " << got_b.size() << " lora_B tensors");
    for (const auto& [name, a] : lora->adapters()) a->set_scaling(a->scaling() * weight);
    return lora;
}

// kohya ("lora_unet_down_blocks_0_proj.lora_down.weight") or diffusers ("unet.x.lora.down.weight").
std::unique_ptr<LoRAModel> load_kohya(const std::string& path, Module& model, float weight) {
    const io::SafetensorsFile f = io::read_safetensors(path);
    // module names of the model's Linears, by their underscore spelling and as they are
    std::map<std::string, std::string> linear_by_key;
    for (auto& [name, m] : model.named_modules()) {
        if ((!dynamic_cast<Linear*>(m) && !dynamic_cast<Conv2d*>(m)) || name.empty()) continue;
        std::string flat = name;
        for (char& c : flat)
            if (c == '.') c = '_';
        linear_by_key[flat] = name;
        linear_by_key[name] = name;
    }
    auto module_of = [&](std::string prefix) -> std::string {
        for (const char* p : {"lora_unet_", "lora_te1_", "lora_te2_", "lora_te_", "lora_", "unet.", "text_encoder."})
            if (prefix.rfind(p, 0) == 0 && linear_by_key.count(prefix.substr(std::string(p).size())))
                return linear_by_key[prefix.substr(std::string(p).size())];
        return linear_by_key.count(prefix) ? linear_by_key[prefix] : "";
    };
    struct Parts {
        Tensor down, up;
        std::string down_key, up_key;
        float alpha = 0;
        bool has_alpha = false;
    };
    std::map<std::string, Parts> parts;
    std::vector<std::string> unmatched;
    for (const auto& [key, r] : f.tensors) {
        std::string module, which;
        for (const auto& [suffix, w] : std::vector<std::pair<std::string, std::string>>{
                 {".lora_down.weight", "down"}, {".lora_up.weight", "up"}, {".lora.down.weight", "down"},
                 {".lora.up.weight", "up"}, {".alpha", "alpha"}})
            if (ends_with(key, suffix)) {
                module = module_of(key.substr(0, key.size() - suffix.size()));
                which = w;
                break;
            }
        if (module.empty()) {
            unmatched.push_back(key);
            continue;
        }
        Parts& p = parts[module];
        if (which == "alpha") {
            const std::vector<float> alpha = io::to_f32(r);
            RFLOW_CHECK(alpha.size() == 1, path << ": " << key << ": alpha has shape " << shape_str(r.shape)
                                                << " (" << alpha.size() << " values; expected one scalar)");
            RFLOW_CHECK(std::isfinite(alpha[0]), path << ": " << key << ": alpha is " << alpha[0] << " (expected a finite number)");
            p.alpha = alpha[0];
            p.has_alpha = true;
            continue;
        }
        // lora_down [r, in] or [r, in, kh, kw]; lora_up [out, r] or [out, r, 1, 1]
        const size_t rank = r.shape.size();
        RFLOW_CHECK(rank == 2 || rank == 4, path << ": " << key << ": lora_" << which << " has shape "
                                                 << shape_str(r.shape) << " (expected 2 dimensions, or 4 for a convolution)");
        const int64_t lora_rank = which == "down" ? r.shape[0] : r.shape[1];
        RFLOW_CHECK(lora_rank > 0, path << ": " << key << ": lora_" << which << " has shape " << shape_str(r.shape)
                                        << " (expected a LoRA rank >= 1)");
        (which == "down" ? p.down : p.up) = tensor_of(r, path, key);
        (which == "down" ? p.down_key : p.up_key) = key;
    }
    RFLOW_CHECK(unmatched.empty(), path << ": " << unmatched.size() << " key(s) match no Linear of the model: "
                                        << list_of(unmatched));
    RFLOW_CHECK(!parts.empty(), path << ": no LoRA tensors found");
    LoRATargets targets;
    LoRAConfig cfg;
    for (auto& [module, p] : parts) {
        RFLOW_CHECK(p.down.defined() && p.up.defined(), path << ": module '" << module << "' lacks lora_down or lora_up");
        RFLOW_CHECK(p.up.dim() == p.down.dim() && p.up.size(1) == p.down.size(0),
                    path << ": " << p.up_key << ": shape " << shape_str(p.up.shape()) << " does not fit " << p.down_key
                         << " of shape " << shape_str(p.down.shape()) << " (expected [out, " << p.down.size(0) << "])");
        targets.targets.push_back(module);
        targets.rank_pattern[module] = p.down.size(0);
        targets.alpha_pattern[module] = p.has_alpha ? p.alpha : static_cast<float>(p.down.size(0));  // no alpha: s = 1
    }
    Generator gen(0);
    auto lora = std::make_unique<LoRAModel>(model, targets, cfg, gen);
    for (const auto& [name, a] : lora->adapters()) {
        copy_checked(a->A(), parts[name].down, name + ".lora_down.weight", path);
        copy_checked(a->B(), parts[name].up, name + ".lora_up.weight", path);
        a->set_scaling(a->scaling() * weight);
    }
    return lora;
}

}  // namespace

void save_lora_adapter(const std::string& dir, const LoRAModel& lora, const LoRATargets& targets, const LoRAConfig& cfg,
                       const std::string& base_model) {
    io::SafetensorsFile f;
    f.metadata = {{"format", "pt"}};
    LoRATargets written = targets;
    for (const auto& [name, a] : lora.adapters()) {
        RFLOW_CHECK(!a->merged(), "save_lora_adapter: '" << name << "' is merged; unmerge before saving");
        Tensor wa = a->A(), wb = a->B();
        if (a->init_A().defined()) {
            // PiSSA / LoRA-GA moved s B0 A0 out of W0: write the rank-2r adapter [B, -B0] [A; A0]
            // with the same s, so a standard loader applies s (B A - B0 A0) to the original W0
            RFLOW_CHECK(!a->config().dora, "save_lora_adapter: '" << name
                                                                  << "': a DoRA adapter with a pissa/lora-ga init cannot be "
                                                                     "exported relative to the original weights");
            NoGradGuard ng;
            wa = concat({wa, a->init_A()}, 0);        // [2r, in (, kh, kw)]
            wb = concat({wb, neg(a->init_B())}, 1);   // [out, 2r (, 1, 1)]
            const int64_t r2 = wa.size(0);
            written.rank_pattern[name] = r2;
            written.alpha_pattern[name] =
                a->scaling() * (a->config().rslora ? std::sqrt(static_cast<float>(r2)) : static_cast<float>(r2));
        }
        f.tensors.emplace_back(kPeftPrefix + name + ".lora_A.weight", raw(wa));
        f.tensors.emplace_back(kPeftPrefix + name + ".lora_B.weight", raw(wb));
        if (a->config().dora) f.tensors.emplace_back(kPeftPrefix + name + ".lora_magnitude_vector", raw(a->magnitude()));
    }
    std::vector<std::string> plain;
    std::string regex;
    for (const std::string& t : targets.targets) {
        if (t.rfind("re:", 0) == 0) regex += (regex.empty() ? "" : "|") + std::string("(") + t.substr(3) + ")";
        else plain.push_back(t);
    }
    RFLOW_CHECK(regex.empty() || plain.empty(),
                "save_lora_adapter: PEFT's target_modules is either a list of names or one regex, not both");
    nlohmann::json j = {{"peft_type", "LORA"},
                        {"r", cfg.rank},
                        {"lora_alpha", cfg.alpha},
                        {"lora_dropout", cfg.dropout},
                        {"use_rslora", cfg.rslora},
                        {"use_dora", cfg.dora},
                        {"init_lora_weights", true},  // the file applies to the original weights as is
                        {"rank_pattern", written.rank_pattern},
                        {"alpha_pattern", written.alpha_pattern},
                        {"bias", "none"},
                        {"fan_in_fan_out", false},
                        {"base_model_name_or_path", base_model},
                        {"task_type", nullptr}};
    j["target_modules"] = regex.empty() ? nlohmann::json(plain) : nlohmann::json(regex);
    const std::vector<uint8_t> bytes = io::serialize_safetensors(f);
    fs::create_directories(dir);  // only now: a refused adapter leaves no empty folder behind
    io::write_file_atomic((fs::path(dir) / "adapter_model.safetensors").string(), bytes.data(), bytes.size());
    const std::string text = j.dump(2) + "\n";
    io::write_file_atomic((fs::path(dir) / "adapter_config.json").string(), text.data(), text.size());
}

std::unique_ptr<LoRAModel> load_lora_adapter(const std::string& path, Module& model, float weight) {
    RFLOW_CHECK(std::isfinite(weight), "load_lora_adapter: weight must be finite");
    if (fs::is_directory(path)) return load_peft(path, model, weight);
    RFLOW_CHECK(fs::exists(path), "LoRA adapter '" << path << "' does not exist");
    return load_kohya(path, model, weight);
}

}  // namespace rflow::nn
