// `rflow sample`: samples a trained model (PNG beside data, or CSV; optional trajectory plot).
// `rflow eval`: evaluates models at several samplers and step counts: eval.jsonl (one row per
// model and method: NFE, sliced W2, exact W2, MMD; one row per model: straightness), eval.png
// (quality against NFE) and compare.png (a grid of samples, models by methods).
#include "sample_commands.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli_common.hpp"
#include "rflow/autograd.hpp"
#include "rflow/data/csv.hpp"
#include "rflow/io/plot.hpp"
#include "rflow/metrics.hpp"
#include "rflow/ot.hpp"

namespace rflow::cli {

namespace fs = std::filesystem;

namespace {

struct SampleFlags {
    std::string model;
    std::string output = "samples.png";
    std::string trajectories;
    std::string dataset;
    int64_t num_samples = 2000;
    uint64_t seed = 1;
    bool no_ema = false;
    SamplingFlags sampling;
};

struct EvalFlags {
    std::vector<std::string> models;
    std::string methods = "euler:1,euler:2,euler:4,euler:100,dopri5";
    std::string output = "out/eval";
    std::string dataset;
    int64_t num_samples = 10000;
    int64_t w2_points = 2000;
    uint64_t seed = 7;
};

// "euler:4" -> euler with 4 steps; "dopri5:1e-4" -> dopri5 with rtol = atol = 1e-4.
SamplingFlags parse_method(const std::string& spec) {
    SamplingFlags f;
    const size_t colon = spec.find(':');
    f.method = spec.substr(0, colon);
    const bool adaptive = f.method == "dopri5";
    if (colon != std::string::npos) {
        const std::string arg = spec.substr(colon + 1);
        try {
            if (adaptive) f.rtol = f.atol = std::stod(arg);
            else f.steps = std::stoi(arg);
        } catch (const std::exception&) {
            throw BadInput("--methods: cannot read '" + arg + "' in '" + spec + "'");
        }
    }
    as_input([&] { return samplers::make_sampler(f.method); });
    return f;
}

std::string method_label(const SamplingFlags& f) {
    return f.method == "dopri5" ? "dopri5 (tol " + fmt("%.0e", f.rtol) + ")" : f.method + " " + std::to_string(f.steps);
}

DataSpec data_for(const LoadedModel& m, const std::string& override_name) {
    DataSpec d;
    if (!override_name.empty()) d.dataset = override_name;
    else if (m.config.contains("data_csv")) d.csv = m.config["data_csv"].get<std::string>();
    else d.dataset = m.dataset();
    return d;
}

int run_sample(const SampleFlags& f, const CLI::App* cmd) {
    const std::string ext = fs::path(f.output).extension().string();
    if (ext != ".csv" && ext != ".png") throw BadInput("-o/--output must end in .png or .csv, got '" + f.output + "'");
    LoadedModel m = load_model(f.model, !f.no_ema);
    SamplingFlags s = f.sampling;
    if (m.distilled_steps() > 0 && cmd->count("--sampling-method") == 0 && cmd->count("--sample-steps") == 0)
        s = {"euler", static_cast<int>(m.distilled_steps()), s.rtol, s.atol};  // what it was trained for
    int64_t nfe = 0;
    std::vector<Tensor> traj;
    Tensor x = sample_model(*m.model, f.num_samples, f.seed, s, &nfe, f.trajectories.empty() ? nullptr : &traj);
    DataSpec d = data_for(m, f.dataset);
    Tensor data = reference_points(d, f.num_samples, f.seed);
    const float extent = plot_extent(data);
    if (ext == ".csv") {
        data::save_points_csv(f.output, x, {"x", "y"});
    } else {
        Generator proj(f.seed, 4);
        const int64_t n = std::min(x.size(0), data.size(0));
        const double sw = sliced_wasserstein(x.slice(0, 0, n), data.slice(0, 0, n), proj);
        const std::string footer = "rflow | " + m.label() + " | " + method_label(s) + " | NFE " + std::to_string(nfe) +
                                   " | seed " + std::to_string(f.seed) + " | sliced W2 " + fmt("%.4f", sw);
        io::write_scatter_png(f.output, {{"data (" + d.name() + ")", data, {90, 90, 90}},
                                         {m.label() + " (" + method_label(s) + ")", x, io::palette(0)}},
                              extent, 400, footer);
        std::printf("sliced W2 to data %.4f\n", sw);
    }
    if (!f.trajectories.empty())
        io::write_trajectories_png(f.trajectories, traj, m.label() + " trajectories (" + method_label(s) + ")", extent, 300,
                                   data);
    std::printf("%s: %lld samples, NFE %lld, wrote %s%s%s\n", m.label().c_str(), static_cast<long long>(x.size(0)),
                static_cast<long long>(nfe), f.output.c_str(), f.trajectories.empty() ? "" : ", ", f.trajectories.c_str());
    return 0;
}

int run_eval(const EvalFlags& f) {
    std::vector<SamplingFlags> methods;
    std::string rest = f.methods;
    for (size_t pos = 0; pos <= rest.size();) {
        const size_t comma = rest.find(',', pos);
        const std::string item = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!item.empty()) methods.push_back(parse_method(item));
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    if (methods.empty()) throw BadInput("--methods lists no sampler");
    std::vector<LoadedModel> models;
    for (const std::string& path : f.models) models.push_back(load_model(path));
    fs::create_directories(f.output);
    const std::string jsonl = (fs::path(f.output) / "eval.jsonl").string();
    std::ofstream out(jsonl);
    if (!out) throw Error("cannot write " + jsonl);

    DataSpec d = data_for(models[0], f.dataset);
    Tensor data = reference_points(d, f.num_samples, f.seed);
    const float extent = plot_extent(data);
    std::vector<io::XYSeries> series;
    std::vector<io::ScatterPanel> panels;
    std::printf("%-22s %-18s %6s %10s %10s %10s\n", "model", "method", "NFE", "SW2", "W2", "MMD");
    for (size_t mi = 0; mi < models.size(); ++mi) {
        LoadedModel& m = models[mi];
        io::XYSeries s{m.label(), {}, {}, io::palette(mi)};
        for (const SamplingFlags& method : methods) {
            int64_t nfe = 0;
            Tensor x = sample_model(*m.model, f.num_samples, f.seed, method, &nfe);
            Generator proj(f.seed, 4);
            const int64_t n = std::min(x.size(0), data.size(0));
            const double sw = sliced_wasserstein(x.slice(0, 0, n), data.slice(0, 0, n), proj);
            const int64_t k = std::min<int64_t>(n, f.w2_points);
            const double w2 = exact_w2(x.slice(0, 0, k), data.slice(0, 0, k));
            const int64_t km = std::min<int64_t>(n, 1000);
            const double mmd = mmd_rbf(x.slice(0, 0, km), data.slice(0, 0, km));
            out << nlohmann::json{{"model", m.label()}, {"path", m.path}, {"method", method.method},
                                  {"steps", method.steps}, {"rtol", method.rtol}, {"nfe", nfe}, {"sliced_w2", sw},
                                  {"w2", w2}, {"mmd", mmd}, {"samples", n}}.dump()
                << "\n";
            std::printf("%-22s %-18s %6lld %10.4f %10.4f %10.5f\n", m.label().c_str(), method_label(method).c_str(),
                        static_cast<long long>(nfe), sw, w2, mmd);
            s.x.push_back(static_cast<double>(std::max<int64_t>(nfe, 1)));
            s.y.push_back(sw);
            panels.push_back({m.label() + ", " + method_label(method), x.slice(0, 0, std::min<int64_t>(n, 3000)),
                              io::palette(mi)});
        }
        // straightness along Euler-100 trajectories of 2000 samples
        std::vector<Tensor> traj;
        SamplingFlags euler100{"euler", 100, 1e-5, 1e-5};
        sample_model(*m.model, std::min<int64_t>(2000, f.num_samples), f.seed + 1, euler100, nullptr, &traj);
        std::vector<float> times;
        for (size_t i = 0; i < traj.size(); ++i) times.push_back(static_cast<float>(i) / (traj.size() - 1));
        const double straight = straightness(traj, times);
        out << nlohmann::json{{"model", m.label()}, {"path", m.path}, {"straightness", straight},
                              {"trajectory", "euler 100"}}.dump()
            << "\n";
        std::printf("%-22s straightness %.4f (euler 100)\n", m.label().c_str(), straight);
        series.push_back(s);
    }
    const std::string plot = (fs::path(f.output) / "eval.png").string();
    const std::string grid = (fs::path(f.output) / "compare.png").string();
    io::write_xy_png(plot, "sample quality against NFE (" + d.name() + ")", "NFE", "sliced W2", series, true, true);
    io::write_scatter_png(grid, panels, extent, 260,
                          "rflow eval | " + d.name() + " | " + std::to_string(f.num_samples) + " samples | seed " +
                              std::to_string(f.seed),
                          static_cast<int>(methods.size()));
    std::printf("wrote %s, %s, %s\n", jsonl.c_str(), plot.c_str(), grid.c_str());
    return 0;
}

}  // namespace

std::function<int()> add_sample_commands(CLI::App& app) {
    auto sf = std::make_shared<SampleFlags>();
    auto ef = std::make_shared<EvalFlags>();
    CLI::App* sample = app.add_subcommand("sample", "Sample a trained model; write a PNG beside the data or a CSV");
    sample->add_option("--model", sf->model, "Checkpoint written by train, reflow or distill")->required();
    sample->add_option("-o,--output", sf->output, "Output file: .png (picture) or .csv (points)")->capture_default_str();
    sample->add_option("--num-samples", sf->num_samples, "Number of samples")->capture_default_str()->check(positive());
    sample->add_option("--seed", sf->seed, "Seed of the starting noise")->capture_default_str();
    sample->add_option("--trajectories", sf->trajectories, "Also draw the sampling paths into this PNG");
    sample->add_option("--dataset", sf->dataset, "Reference data for the picture (default: the training data)");
    sample->add_flag("--no-ema", sf->no_ema, "Use the raw weights even if the checkpoint has an EMA");
    add_sampling_flags(sample, sf->sampling, "ODE solver (a distilled model defaults to Euler with its k steps)");

    CLI::App* eval = app.add_subcommand("eval", "Evaluate models at several samplers and step counts (JSONL, plots)");
    eval->add_option("--model", ef->models, "Checkpoints to evaluate (repeat the flag)")->required();
    eval->add_option("--methods", ef->methods, "Comma-separated sampler[:steps] or dopri5[:tol]")->capture_default_str();
    eval->add_option("-o,--output", ef->output, "Directory for eval.jsonl, eval.png, compare.png")->capture_default_str();
    eval->add_option("--num-samples", ef->num_samples, "Samples per evaluation")->capture_default_str()->check(positive());
    eval->add_option("--w2-points", ef->w2_points, "Points for the exact W2 (assignment, O(n^3))")->capture_default_str();
    eval->add_option("--seed", ef->seed, "Seed of noise, reference data and projections")->capture_default_str();
    eval->add_option("--dataset", ef->dataset, "Reference data (default: the first model's training data)");
    return [=]() -> int {
        if (sample->parsed()) return run_sample(*sf, sample);
        if (eval->parsed()) return run_eval(*ef);
        return -1;
    };
}

}  // namespace rflow::cli
