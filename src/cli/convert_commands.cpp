// `rflow convert` (see convert_commands.hpp). Export: a checkpoint's weights (the EMA weights
// unless --no-ema) as a plain state_dict with its model config in the metadata. Import: a plain
// state_dict from elsewhere plus the config of its network (a JSON file holding the model config,
// or a whole rflow config with "model_config") become an rflow checkpoint that sample, eval,
// reflow and distill read like a trained one.
#include "convert_commands.hpp"

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/models.hpp"

namespace rflow::cli {

namespace {

struct ConvertFlags {
    std::string model;    // export this checkpoint
    std::string weights;  // import this plain state_dict
    std::string config;   // the model config of --weights (a JSON file)
    std::string dataset;  // the data an imported point model was trained on (sample's reference)
    std::string output;
    std::string dtype = "f32";
    bool no_ema = false;
};

// The model config in a JSON file: the object itself, or a whole rflow config's "model_config".
std::string read_model_config(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw BadInput("--config " + path + ": cannot read the file");
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > (64u << 20)) throw BadInput("--config " + path + ": larger than 64 MiB");
    as_input([&] {
        io::check_json_depth(text.str(), path, "config");
        return 0;
    });
    const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw BadInput("--config " + path + ": not a JSON object");
    return j.contains("model_config") ? j["model_config"].dump() : j.dump();
}

int run_convert(const ConvertFlags& f) {
    if (f.model.empty() == f.weights.empty())
        throw BadInput("give either --model (export a checkpoint's weights) or --weights (import a state_dict)");
    if (!f.model.empty()) {
        if (!f.config.empty() || !f.dataset.empty()) throw BadInput("--config and --dataset go with --weights, not --model");
        const io::DType dtype = f.dtype == "f16" ? io::DType::F16 : f.dtype == "bf16" ? io::DType::BF16 : io::DType::F32;
        rflow::LoadedModel m = as_input([&] { return rflow::load_model(f.model, !f.no_ema); });
        const nlohmann::json config = nlohmann::json::parse(m.config);
        as_input([&] {
            rflow::export_weights(f.output, *m.model, config["model_config"].dump(), dtype);
            return 0;
        });
        std::printf("wrote %s: %lld parameters of %s (%s weights) as %s\n", f.output.c_str(),
                    static_cast<long long>(m.model->num_parameters()), f.model.c_str(), f.no_ema ? "raw" : "EMA",
                    io::dtype_name(dtype));
        return 0;
    }
    if (f.dtype != "f32" || f.no_ema) throw BadInput("--dtype and --no-ema go with --model (export), not --weights");
    const std::string model_config = f.config.empty() ? std::string() : read_model_config(f.config);
    rflow::LoadedModel m = as_input([&] { return rflow::import_weights(f.weights, model_config, "--config " + f.config); });
    nlohmann::json config = {{"model_config", nlohmann::json::parse(m.config)},
                             {"label", "imported"},
                             {"kind", "flow"},
                             {"imported_from", f.weights}};
    if (!f.dataset.empty()) config["dataset"] = f.dataset;
    io::Checkpoint c;
    c.model = m.model->state_dict();
    c.config = config.dump();
    io::save_checkpoint(f.output, c);
    std::printf("wrote %s: a %s checkpoint of %lld parameters from %s\n", f.output.c_str(), m.kind.c_str(),
                static_cast<long long>(m.model->num_parameters()), f.weights.c_str());
    return 0;
}

}  // namespace

std::function<int()> add_convert_commands(CLI::App& app) {
    auto f = std::make_shared<ConvertFlags>();
    CLI::App* c = app.add_subcommand(
        "convert",
        "Weights to and from plain safetensors state_dicts: --model CKPT exports (F32/F16/BF16, PyTorch names, "
        "the model config in the metadata); --weights FILE [--config JSON] imports one as an rflow checkpoint");
    c->add_option("--model", f->model, "Export: a checkpoint written by rflow (train, reflow, distill, train-images)");
    c->add_option("--weights", f->weights, "Import: a plain safetensors state_dict (any float dtype)");
    c->add_option("--config", f->config,
                  "Import: a JSON file with the network's model config (or a whole rflow config with "
                  "'model_config'); not needed for files rflow exported");
    c->add_option("--dataset", f->dataset, "Import: the 2-D data a point model learned (sample draws it as reference)");
    c->add_option("-o,--output", f->output, "The file to write (.safetensors)")->required();
    c->add_option("--dtype", f->dtype, "Export: f32, f16 or bf16")->capture_default_str()->check(
        CLI::IsMember({"f32", "f16", "bf16"}));
    c->add_flag("--no-ema", f->no_ema, "Export: the raw weights even if the checkpoint has an EMA");
    return [=]() -> int { return c->parsed() ? run_convert(*f) : -1; };
}

}  // namespace rflow::cli
