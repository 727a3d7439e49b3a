// Shared pieces of the CLI commands: the bad-input error (exit code 2), model files with their
// JSON config, data sources from flags, and sampling a model by method name.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <new>
#include <regex>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "rflow/error.hpp"
#include "rflow/io/image.hpp"
#include "rflow/nn/classifier.hpp"
#include "rflow/nn/dit.hpp"
#include "rflow/nn/text_dit.hpp"
#include "rflow/nn/lora.hpp"
#include "rflow/nn/unet.hpp"
#include "rflow/nn/velocity_mlp.hpp"
#include "rflow/models.hpp"
#include "rflow/samplers/sampler.hpp"
#include "rflow/trainers/coupling.hpp"

namespace rflow::cli {

/// Bad usage or bad input (a malformed file, an unknown name): the CLI exits with code 2.
class BadInput : public Error {
public:
    explicit BadInput(const std::string& what) : Error(what) {}
};

/// Runs f, turning any rflow::Error into BadInput (for reading user-supplied inputs), and so too
/// the foreign exceptions a malformed input can raise inside a reader: a JSON type or parse
/// error, a regex that does not compile, a size too large to allocate.
template <class F>
auto as_input(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const BadInput&) {
        throw;
    } catch (const Error& e) {
        throw BadInput(e.what());
    } catch (const nlohmann::json::exception& e) {
        throw BadInput(std::string("malformed JSON value: ") + e.what());
    } catch (const std::regex_error& e) {
        throw BadInput(std::string("not a valid regular expression: ") + e.what());
    } catch (const std::bad_alloc&) {
        throw BadInput("the input asks for more memory than there is (a size in it is too large)");
    } catch (const std::length_error& e) {
        throw BadInput(std::string("the input asks for a size too large to hold: ") + e.what());
    }
}

/// A model config (rflow/models.hpp) as a JSON value, to store in a checkpoint's config.
template <class Config>
nlohmann::json model_config_json(const Config& cfg) {
    return nlohmann::json::parse(rflow::model_config_json(cfg));
}

/// A trained model read back from a checkpoint written by `rflow train|reflow|distill|train-images`
/// (rflow::load_model, with the config parsed and its keys the commands read checked).
struct LoadedModel {
    std::unique_ptr<nn::VelocityModel> model;
    Shape sample_shape;     ///< one sample: [D] for points, [C, H, W] for images
    bool is_image = false;
    /// The point model (reflow and distill need its config); Error for image models.
    nn::VelocityMLP& mlp() const;
    nlohmann::json config;  ///< model_config, dataset, label, kind, ...
    std::string path;
    std::string label() const { return config.value("label", path); }
    std::string dataset() const { return config.value("dataset", std::string("8gaussians")); }
    /// Fixed steps a distilled model was trained for (0 for a flow).
    int64_t distilled_steps() const { return config.value("distill_k", int64_t{0}); }
};

/// A classifier written by `rflow train-classifier` (BadInput naming the file otherwise).
std::unique_ptr<nn::Classifier> load_classifier(const std::string& path);

/// LoRA settings as stored in a checkpoint's config ("lora": {...}) and read back.
nlohmann::json lora_json(const nn::LoRATargets& targets, const nn::LoRAConfig& cfg);

/// Applies adapters given as "path[:weight]" (a PEFT directory or a kohya file) by merging each
/// into the model's weights in turn (weights add up). BadInput naming the spec on errors.
void merge_loras(nn::Module& model, const std::vector<std::string>& specs);

/// Loads model weights (the EMA weights when the checkpoint has them and use_ema). A checkpoint
/// of a LoRA fine-tune (config "lora") comes back with its adapters merged.
LoadedModel load_model(const std::string& path, bool use_ema = true);
samplers::VelocityField velocity_of(nn::VelocityModel& model);

/// Where training data comes from: a toy dataset by name or the rows of a CSV file.
struct DataSpec {
    std::string dataset = "8gaussians";
    std::string csv;  ///< when set, points are drawn (with replacement) from this file
    int64_t dim = 2;  ///< coordinates per point: the CSV must have this many columns
    std::string name() const { return csv.empty() ? dataset : csv; }
};
/// The points of spec.csv; BadInput naming the file when unreadable, empty, or not spec.dim columns.
Tensor load_csv_points(const DataSpec& spec);
trainers::DataSource make_data_source(const DataSpec& spec);
/// n reference points from the data (fresh draws for toy sets, the first rows for a CSV).
Tensor reference_points(const DataSpec& spec, int64_t n, uint64_t seed);

/// Sampler flags shared by sample, eval, reflow and distill.
struct SamplingFlags {
    std::string method = "euler";
    int steps = 100;
    double rtol = 1e-5, atol = 1e-5;
};
/// With steps_alias, --steps also names --sample-steps (for `sample`, where it cannot clash).
void add_sampling_flags(CLI::App* app, SamplingFlags& f, const std::string& method_help = "", bool steps_alias = false);
samplers::SamplerOptions sampler_options(const SamplingFlags& f);

/// Integrates n noise samples (seeded) of `sample_shape` through the model; returns the samples
/// and fills nfe (and the trajectory when `trajectory` is non-null). With labels, the model is
/// sampled class-conditionally with guidance scale `cfg_scale` (batch-wide stepping).
Tensor sample_model(nn::VelocityModel& model, const Shape& sample_shape, int64_t n, uint64_t seed,
                    const SamplingFlags& f, int64_t* nfe = nullptr, std::vector<Tensor>* trajectory = nullptr,
                    const std::vector<int64_t>& labels = {}, float cfg_scale = 1.f,
                    const std::string& prompt = "");

/// --device cpu|cuda on a command that runs networks; one setting for the process (train, reflow,
/// distill, train-images, sample, eval, gan train, gan sample).
void add_device_flag(CLI::App* app);
/// --threads N: CPU threads for the network and the samplers (0 = all cores), applied when parsed;
/// for every command that runs networks.
void add_threads_flag(CLI::App* app);
/// The device --device named; BadInput naming the flag when it is cuda and no GPU answers.
Device cli_device();

/// A CLI11 check: the value must be a finite number > 0 (flag_checks.hpp has the other ranges).
const CLI::Validator& positive();

/// The text of a picture rflow writes: `settings` as given (one PNG text chunk each), plus
/// "parameters" in the AUTOMATIC1111 layout that sd-webui's PNG Info and similar tools read: the
/// prompt (if any) on its own line, then "Steps: 20, Sampler: rk4, CFG scale: 1.5, Seed: 7,
/// Size: 28x28, Model: out/x.safetensors, <other settings>, Version: rflow 0.1.0" (keys steps,
/// solver, guidance, seed, size, model map to A1111's names; the rest are capitalised).
io::PngText png_parameters(io::PngText settings);

/// A plot extent that frames the reference data with a margin.
float plot_extent(const Tensor& reference);
std::string fmt(const char* format, double v);

}  // namespace rflow::cli
