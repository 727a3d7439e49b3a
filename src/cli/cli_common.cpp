// Shared CLI pieces: model config JSON, loading models from checkpoints, data sources, sampling.
#include "cli_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <map>

#include "flag_checks.hpp"
#include "rflow/autograd.hpp"
#include "rflow/config.hpp"
#include "rflow/data/csv.hpp"
#include "rflow/data/toy2d.hpp"
#include "rflow/generate.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/nn/lora_file.hpp"
#include "rflow/ops.hpp"

namespace rflow::cli {

std::unique_ptr<nn::Classifier> load_classifier(const std::string& path) {
    return as_input([&] { return rflow::load_classifier(path); });
}

nn::VelocityMLP& LoadedModel::mlp() const {
    auto* m = dynamic_cast<nn::VelocityMLP*>(model.get());
    if (!m) throw BadInput(path + ": this command needs a 2-D point model, not an image model");
    return *m;
}

LoadedModel load_model(const std::string& path, bool use_ema) {
    rflow::LoadedModel loaded = as_input([&] { return rflow::load_model(path, use_ema); });
    LoadedModel m;
    m.model = std::move(loaded.model);
    m.sample_shape = loaded.sample_shape;
    m.is_image = loaded.is_image;
    m.path = path;
    m.config = nlohmann::json::parse(loaded.config);
    // keys the commands read later: their types are checked here, where the file is known
    for (const char* key : {"label", "dataset", "data_csv", "kind"})
        if (m.config.contains(key) && !m.config[key].is_string())
            throw BadInput(path + ": config key '" + key + "' is " + m.config[key].dump().substr(0, 40) + " (expected a string)");
    for (const char* key : {"distill_k", "rectified"})
        if (m.config.contains(key) && !m.config[key].is_number_integer())
            throw BadInput(path + ": config key '" + key + "' is " + m.config[key].dump().substr(0, 40) +
                           " (expected an integer)");
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
    return nlohmann::json::parse(rflow::lora_config_json(targets, cfg));
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
    GenerateOptions o;
    o.method = f.method;
    o.sampler = sampler_options(f);
    o.labels = labels;
    o.cfg_scale = cfg_scale;
    o.prompt = prompt;
    o.record_trajectory = trajectory != nullptr;
    if (!prompt.empty() && !dynamic_cast<nn::TextDiT*>(&model))
        throw BadInput("--prompt needs a text-conditioned model (train-images --text)");
    as_input([&] { return samplers::make_sampler(f.method); });  // an unknown name is bad input; a failed run is not
    Generated r = generate(model, sample_shape, n, seed, o);
    if (r.budget_exhausted)
        std::fprintf(stderr, "warning: %s stopped at its step budget before t = 1\n", f.method.c_str());
    if (nfe) *nfe = r.nfe;
    if (trajectory) *trajectory = std::move(r.trajectory);
    return r.x;
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

void add_threads_flag(CLI::App* app) {
    app->add_option_function<int>(
           "--threads", [](const int& n) { if (n > 0) set_num_threads(n); }, "CPU threads (0 = all cores)")
        ->default_str("0")->transform(count_in(0, kMaxThreads));
}

Device cli_device() {
    if (device_flag() == "cpu") return Device::cpu;
    if (!cuda_available())
        throw BadInput("--device cuda: no CUDA GPU answers on this machine (`rflow info` shows the build); use "
                       "--device cpu");
    return Device::cuda;
}

const CLI::Validator& positive() { return finite_positive(); }

io::PngText png_parameters(io::PngText settings) {
    static const std::pair<const char*, const char*> a1111[] = {
        {"steps", "Steps"}, {"solver", "Sampler"}, {"guidance", "CFG scale"}, {"seed", "Seed"}, {"size", "Size"},
        {"model", "Model"}, {"rflow-model", "Model"}, {"nfe", "NFE"}};
    std::string prompt, line;
    auto add = [&](const std::string& name, const std::string& value) {
        line += (line.empty() ? "" : ", ") + name + ": " + value;
    };
    for (const auto& [key, name] : a1111)
        for (const auto& kv : settings)
            if (kv.first == key) add(name, kv.second);
    for (const auto& [key, value] : settings) {
        if (key == "prompt") {
            prompt = value;
            continue;
        }
        bool mapped = false;
        for (const auto& m : a1111) mapped = mapped || key == m.first;
        if (mapped) continue;
        std::string name = key;
        for (char& c : name) c = c == '_' ? ' ' : c;
        if (!name.empty()) name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
        add(name, value);
    }
    add("Version", std::string("rflow ") + RFLOW_VERSION);
    settings.emplace_back("parameters", prompt.empty() ? line : prompt + "\n" + line);
    return settings;
}

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
