// `rflow sample`: samples a trained model (PNG beside data, or CSV; optional trajectory plot).
// `rflow eval`: evaluates models at several samplers and step counts: eval.jsonl (one row per
// model and method: NFE, sliced W2, exact W2, MMD; one row per model: straightness), eval.png
// (quality against NFE) and compare.png (a grid of samples, models by methods).
#include "sample_commands.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli_common.hpp"
#include "rflow/trainers/classifier_trainer.hpp"
#include "flag_checks.hpp"
#include "rflow/autograd.hpp"
#include "rflow/data/csv.hpp"
#include "rflow/data/idx.hpp"
#include "rflow/io/image.hpp"
#include "rflow/io/plot.hpp"
#include "rflow/ops.hpp"
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
    int64_t image_class = -1;  // images: -1 = every class in turn
    float cfg_scale = 2.f;
    std::string save_each;     // images: also write each image into this folder
    std::vector<std::string> loras;  // "path[:weight]", merged in turn
    std::string prompt;              // images: text prompt (text-conditioned models)
    std::string classifier;          // images: report how many samples the classifier puts in the prompt's class
};

struct EvalFlags {
    std::vector<std::string> models;
    std::string methods = "euler:1,euler:2,euler:4,euler:100,dopri5";
    std::string output = "out/eval";
    std::string dataset;
    int64_t num_samples = 10000;
    int64_t w2_points = 2000;
    uint64_t seed = 7;
    std::string classifier;              // images: a classifier from `rflow train-classifier`
    std::string cfg_scales = "1,2";      // images: guidance scales to evaluate
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
};

// "euler:4" -> euler with 4 steps; "dopri5:1e-4" -> dopri5 with rtol = atol = 1e-4. BadInput naming
// --methods and the item for an unknown solver, a missing or out-of-range number, or extra parts.
SamplingFlags parse_method(const std::string& spec) {
    SamplingFlags f;
    const size_t colon = spec.find(':');
    f.method = spec.substr(0, colon);
    const std::vector<std::string> names = samplers::sampler_names();
    if (std::find(names.begin(), names.end(), f.method) == names.end()) {
        std::string known;
        for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
        throw BadInput("--methods: unknown sampler '" + f.method + "' in '" + spec + "' (known: " + known + ")");
    }
    if (colon != std::string::npos) {
        const std::string arg = spec.substr(colon + 1);
        const std::string what = "--methods '" + spec + "'";
        if (f.method == "dopri5") f.rtol = f.atol = parse_number(arg, 0, 1, true, what);
        else f.steps = static_cast<int>(parse_count(arg, 1, kMaxSolverSteps, what));
    }
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

// Image models: a PNG grid (settings embedded as PNG text), optionally each image too.
int run_sample_images(const SampleFlags& f, LoadedModel& m, const CLI::App* cmd) {
    if (fs::path(f.output).extension() != ".png") throw BadInput("-o/--output must be a .png for image models");
    const int64_t classes = m.model->num_classes();
    std::vector<int64_t> labels;
    auto* text_model = dynamic_cast<nn::TextDiT*>(m.model.get());
    if (!f.prompt.empty()) {
        if (!text_model) throw BadInput("--prompt: " + f.model + " is not text-conditioned (train-images --text)");
        if (f.image_class >= 0) throw BadInput("--prompt and --class exclude each other");
    } else if (!f.classifier.empty()) {
        throw BadInput("--classifier on sample checks prompts: give --prompt too (or use rflow eval)");
    }
    if (f.prompt.empty() && classes > 0) {
        if (f.image_class >= classes) throw BadInput("--class " + std::to_string(f.image_class) + " outside [0, " +
                                                     std::to_string(classes) + ")");
        for (int64_t i = 0; i < f.num_samples; ++i) labels.push_back(f.image_class >= 0 ? f.image_class : i % classes);
    } else if (f.image_class >= 0) {
        throw BadInput("--class: " + f.model + " is not class-conditional");
    }
    SamplingFlags s = f.sampling;
    if (cmd->count("--sample-steps") == 0 && cmd->count("--steps") == 0) s.steps = 20;
    int64_t nfe = 0;
    Tensor x = clamp(sample_model(*m.model, m.sample_shape, f.num_samples, f.seed, s, &nfe, nullptr, labels, f.cfg_scale,
                                  f.prompt),
                     -1.f, 1.f);
    std::vector<std::pair<std::string, std::string>> text{
        {"model", f.model}, {"seed", std::to_string(f.seed)}, {"solver", s.method}, {"steps", std::to_string(s.steps)},
        {"nfe", std::to_string(nfe)}, {"guidance", classes > 0 ? fmt("%.3g", f.cfg_scale) : "none"},
        {"class", f.image_class >= 0 ? std::to_string(f.image_class) : (classes > 0 ? "all" : "none")}};
    if (!f.prompt.empty()) text.emplace_back("prompt", f.prompt);
    const int columns = classes > 0 && f.image_class < 0 && f.prompt.empty() ? static_cast<int>(classes) : 0;
    text.emplace_back("size", std::to_string(m.sample_shape[2]) + "x" + std::to_string(m.sample_shape[1]));
    text = png_parameters(text);
    io::write_image_grid_png(f.output, x, columns, 2, 2, text);
    if (!f.save_each.empty()) {
        fs::create_directories(f.save_each);
        for (int64_t i = 0; i < x.size(0); ++i) {
            char name[64];
            std::snprintf(name, sizeof name, "%05lld.png", static_cast<long long>(i));
            io::write_image_png((fs::path(f.save_each) / name).string(), x.slice(0, i, i + 1).squeeze(0), text);
        }
    }
    if (!f.prompt.empty()) {  // which class the prompt names, and how often the classifier agrees
        const int64_t want = text_model->config().captions.prompt_class(f.prompt);
        const auto& names = text_model->config().captions.phrases;
        std::printf("prompt \"%s\" names class %s\n", f.prompt.c_str(),
                    want >= 0 ? (std::to_string(want) + " (" + names[want].front() + ")").c_str() : "none");
        if (!f.classifier.empty()) {
            std::unique_ptr<nn::Classifier> clf = load_classifier(f.classifier);
            const std::vector<float> l = trainers::classify(*clf, x, false).to_vector();
            const int64_t k = clf->config().num_classes;
            std::vector<int64_t> hist(static_cast<size_t>(k), 0);
            for (int64_t i = 0; i < x.size(0); ++i) {
                const float* row = &l[i * k];
                ++hist[std::max_element(row, row + k) - row];
            }
            std::string h;
            for (int64_t c = 0; c < k; ++c) h += (c ? " " : "") + std::to_string(hist[c]);
            if (want >= 0 && want < k)
                std::printf("classifier: %lld of %lld samples in the prompt's class (%.3f); histogram %s\n",
                            static_cast<long long>(hist[want]), static_cast<long long>(x.size(0)),
                            double(hist[want]) / x.size(0), h.c_str());
            else
                std::printf("classifier histogram %s\n", h.c_str());
        }
    }
    std::printf("%s: %lld images, NFE %lld, guidance %s, wrote %s\n", m.label().c_str(),
                static_cast<long long>(x.size(0)), static_cast<long long>(nfe), text[5].second.c_str(), f.output.c_str());
    return 0;
}

int run_sample(const SampleFlags& f, const CLI::App* cmd) {
    const std::string ext = fs::path(f.output).extension().string();
    if (ext != ".csv" && ext != ".png") throw BadInput("-o/--output must end in .png or .csv, got '" + f.output + "'");
    LoadedModel m = load_model(f.model, !f.no_ema);
    merge_loras(*m.model, f.loras);
    if (m.is_image) return run_sample_images(f, m, cmd);
    SamplingFlags s = f.sampling;
    if (m.distilled_steps() > 0 && cmd->count("--sampling-method") == 0 && cmd->count("--sample-steps") == 0)
        s = {"euler", static_cast<int>(m.distilled_steps()), s.rtol, s.atol};  // what it was trained for
    int64_t nfe = 0;
    std::vector<Tensor> traj;
    Tensor x = sample_model(*m.model, m.sample_shape, f.num_samples, f.seed, s, &nfe, f.trajectories.empty() ? nullptr : &traj);
    DataSpec d = data_for(m, f.dataset);
    Tensor data = reference_points(d, f.num_samples, f.seed);
    const float extent = plot_extent(data);
    const io::PngText text = png_parameters({{"model", f.model},
                                             {"seed", std::to_string(f.seed)},
                                             {"solver", s.method},
                                             {"steps", std::to_string(s.steps)},
                                             {"nfe", std::to_string(nfe)},
                                             {"dataset", d.name()}});
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
                              extent, 400, footer, 0, text);
        std::printf("sliced W2 to data %.4f\n", sw);
    }
    if (!f.trajectories.empty())
        io::write_trajectories_png(f.trajectories, traj, m.label() + " trajectories (" + method_label(s) + ")", extent, 300,
                                   data, 500, text);
    std::printf("%s: %lld samples, NFE %lld, wrote %s%s%s\n", m.label().c_str(), static_cast<long long>(x.size(0)),
                static_cast<long long>(nfe), f.output.c_str(), f.trajectories.empty() ? "" : ", ", f.trajectories.c_str());
    return 0;
}

// Image models: class accuracy of class-conditional samples, the predicted-class histogram and
// the Frechet distance of classifier features against the test set, with the real-vs-real floor.
int run_eval_images(const EvalFlags& f, std::vector<LoadedModel>& models, const std::vector<SamplingFlags>& methods,
                    int64_t n) {
    if (f.classifier.empty()) throw BadInput("eval of image models needs --classifier (from rflow train-classifier)");
    auto clf = load_classifier(f.classifier);
    data::MnistSplit test = as_input([&] { return data::load_fashion_mnist(f.data_dir, false); });
    const int64_t half = std::min<int64_t>(n, test.images.size(0) / 2);
    Tensor test_feat = trainers::classify(*clf, test.images, true);
    const double floor = frechet_distance(test_feat.slice(0, 0, half), test_feat.slice(0, half, 2 * half));
    std::vector<double> scales;
    for (const std::string& s : [&] {
             std::vector<std::string> out;
             size_t pos = 0;
             while (pos <= f.cfg_scales.size()) {
                 size_t c = f.cfg_scales.find(',', pos);
                 out.push_back(f.cfg_scales.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
                 if (c == std::string::npos) break;
                 pos = c + 1;
             }
             return out;
         }()) {
        scales.push_back(parse_number(s, -1000, 1000, false, "--cfg-scales"));
    }
    fs::create_directories(f.output);
    const std::string jsonl = (fs::path(f.output) / "eval.jsonl").string();
    std::ofstream out(jsonl);
    if (!out) throw Error("cannot write " + jsonl);
    out << nlohmann::json{{"frechet_floor_real_vs_real", floor}, {"samples", half}}.dump() << "\n";
    std::printf("Frechet distance floor (test vs test, %lld each): %.3f\n", static_cast<long long>(half), floor);
    std::printf("%-16s %-10s %6s %6s %9s %9s  histogram\n", "model", "method", "cfg", "NFE", "accuracy", "FD");
    for (LoadedModel& m : models) {
        const int64_t classes = m.model->num_classes();
        for (const SamplingFlags& method : methods) {
            for (double w : classes > 0 ? scales : std::vector<double>{1.0}) {
                std::vector<int64_t> labels;
                for (int64_t i = 0; i < n && classes > 0; ++i) labels.push_back(i % classes);
                std::vector<Tensor> parts;
                int64_t nfe = 0;
                for (int64_t i = 0; i < n; i += 250) {
                    const int64_t b = std::min<int64_t>(250, n - i);
                    std::vector<int64_t> lb(labels.begin() + (classes > 0 ? i : 0), labels.begin() + (classes > 0 ? i + b : 0));
                    int64_t part_nfe = 0;
                    parts.push_back(clamp(sample_model(*m.model, m.sample_shape, b, f.seed + i, method, &part_nfe, nullptr, lb,
                                                       static_cast<float>(w)), -1.f, 1.f));
                    nfe = part_nfe;
                }
                Tensor x = concat(parts, 0);
                std::vector<float> logits = trainers::classify(*clf, x, false).to_vector();
                const int64_t k = clf->config().num_classes;
                std::vector<int64_t> hist(k, 0);
                int64_t correct = 0;
                for (int64_t i = 0; i < n; ++i) {
                    const float* row = &logits[i * k];
                    const int64_t pred = std::max_element(row, row + k) - row;
                    ++hist[pred];
                    if (classes > 0) correct += pred == labels[i];
                }
                const double acc = classes > 0 ? double(correct) / n : -1.0;
                const double fd = frechet_distance(trainers::classify(*clf, x, true), test_feat.slice(0, 0, std::min<int64_t>(n, test_feat.size(0))));
                out << nlohmann::json{{"model", m.label()}, {"path", m.path}, {"method", method.method},
                                      {"steps", method.steps}, {"cfg_scale", w}, {"nfe", nfe}, {"accuracy", acc},
                                      {"frechet", fd}, {"frechet_floor", floor}, {"histogram", hist}, {"samples", n}}.dump()
                    << "\n";
                std::string h;
                for (int64_t c : hist) h += std::to_string(c) + " ";
                std::printf("%-16s %-10s %6.2f %6lld %9.4f %9.3f  %s\n", m.label().c_str(), method_label(method).c_str(), w,
                            static_cast<long long>(nfe), acc, fd, h.c_str());
                char name[96];
                std::snprintf(name, sizeof name, "samples_%s%d_cfg%.2g.png", method.method.c_str(), method.steps, w);
                io::write_image_grid_png((fs::path(f.output) / name).string(), x.slice(0, 0, std::min<int64_t>(n, 100)),
                                         classes > 0 ? static_cast<int>(classes) : 10, 2, 2,
                                         png_parameters({{"model", m.path},
                                                         {"solver", method.method},
                                                         {"steps", std::to_string(method.steps)},
                                                         {"guidance", fmt("%.3g", w)},
                                                         {"seed", std::to_string(f.seed)}}));
            }
        }
    }
    std::printf("wrote %s\n", jsonl.c_str());
    return 0;
}

int run_eval(const EvalFlags& f, const CLI::App* cmd) {
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
    if (models[0].is_image) {
        if (cmd->count("--methods") == 0) methods = {parse_method("euler:10"), parse_method("euler:20")};
        return run_eval_images(f, models, methods, cmd->count("--num-samples") ? f.num_samples : 1000);
    }
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
            Tensor x = sample_model(*m.model, m.sample_shape, f.num_samples, f.seed, method, &nfe);
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
        sample_model(*m.model, m.sample_shape, std::min<int64_t>(2000, f.num_samples), f.seed + 1, euler100, nullptr, &traj);
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
    std::string model_list;
    for (const std::string& path : f.models) model_list += (model_list.empty() ? "" : " ") + path;
    const io::PngText text = png_parameters({{"model", model_list},
                                             {"seed", std::to_string(f.seed)},
                                             {"dataset", d.name()},
                                             {"samples", std::to_string(f.num_samples)}});
    io::write_xy_png(plot, "sample quality against NFE (" + d.name() + ")", "NFE", "sliced W2", series, true, true, 720,
                     440, text);
    io::write_scatter_png(grid, panels, extent, 260,
                          "rflow eval | " + d.name() + " | " + std::to_string(f.num_samples) + " samples | seed " +
                              std::to_string(f.seed),
                          static_cast<int>(methods.size()), text);
    std::printf("wrote %s, %s, %s\n", jsonl.c_str(), plot.c_str(), grid.c_str());
    return 0;
}

}  // namespace

std::function<int()> add_sample_commands(CLI::App& app) {
    auto sf = std::make_shared<SampleFlags>();
    auto ef = std::make_shared<EvalFlags>();
    CLI::App* sample = app.add_subcommand("sample", "Sample a trained model; write a PNG beside the data or a CSV");
    add_device_flag(sample);
    add_threads_flag(sample);
    sample->add_option("--model", sf->model, "Checkpoint written by train, reflow or distill")->required();
    sample->add_option("--lora", sf->loras, "LoRA adapter PATH[:WEIGHT] (PEFT directory or kohya file); repeat to add several");
    sample->add_option("-o,--output", sf->output, "Output file: .png (picture) or .csv (points)")->capture_default_str();
    sample->add_option("-n,--num-samples", sf->num_samples, "Number of samples")->capture_default_str()->transform(count_in(1, kMaxSamples));
    add_seed_option(sample, sf->seed, "Seed of the starting noise");
    sample->add_option("--trajectories", sf->trajectories, "Also draw the sampling paths into this PNG");
    sample->add_option("--dataset", sf->dataset, "Reference data for the picture (default: the training data)");
    sample->add_flag("--no-ema", sf->no_ema, "Use the raw weights even if the checkpoint has an EMA");
    add_sampling_flags(sample, sf->sampling, "ODE solver (a distilled model defaults to Euler with its k steps)", true);
    sample->get_option("--sample-steps")
        ->description("Steps of a fixed-step solver: by default 100 for point models, 20 for image models, k for a "
                      "model distilled into k steps")
        ->default_str("by model");
    sample->add_option("--class", sf->image_class, "Images: the class to sample (-1 = every class in turn)")
        ->capture_default_str()->transform(count_in(-1, kMaxClasses));
    sample->add_option("--cfg-scale", sf->cfg_scale, "Images: guidance w in v_u + w (v_c - v_u)")->capture_default_str()->check(guidance_scale());
    sample->add_option("--save-each", sf->save_each, "Images: also write each image into this folder");
    sample->add_option("--prompt", sf->prompt, "Images: a text prompt, e.g. \"a pair of sneakers\" (text-conditioned models)");
    sample->add_option("--classifier", sf->classifier,
                       "Images with --prompt: report how many samples this classifier puts in the prompt's class");

    CLI::App* eval = app.add_subcommand("eval", "Evaluate models at several samplers and step counts (JSONL, plots)");
    add_device_flag(eval);
    add_threads_flag(eval);
    eval->add_option("--model", ef->models, "Checkpoints to evaluate (repeat the flag)")->required();
    eval->add_option("--methods", ef->methods, "Comma-separated sampler[:steps] or dopri5[:tol]")->capture_default_str();
    eval->add_option("-o,--output", ef->output, "Directory for eval.jsonl, eval.png, compare.png")->capture_default_str();
    eval->add_option("--num-samples", ef->num_samples, "Samples per evaluation")->capture_default_str()->transform(count_in(1, kMaxSamples));
    eval->add_option("--w2-points", ef->w2_points, "Points for the exact W2 (assignment, O(n^3))")
        ->capture_default_str()->transform(count_in(1, kMaxW2Points));
    add_seed_option(eval, ef->seed, "Seed of noise, reference data and projections");
    eval->add_option("--dataset", ef->dataset, "Reference data (default: the first model's training data)");
    eval->add_option("--classifier", ef->classifier, "Images: classifier from `rflow train-classifier`");
    eval->add_option("--cfg-scales", ef->cfg_scales, "Images: guidance scales to evaluate")->capture_default_str();
    eval->add_option("--data-dir", ef->data_dir, "Images: Fashion-MNIST test set folder")->capture_default_str();
    return [=]() -> int {
        if (sample->parsed()) return run_sample(*sf, sample);
        if (eval->parsed()) return run_eval(*ef, eval);
        return -1;
    };
}

}  // namespace rflow::cli
