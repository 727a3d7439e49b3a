// Sample quality against NFE for bench/run_nfe_quality.sh: loads a VelocityMLP checkpoint written
// by `rflow train`, samples --samples points from one fixed noise batch with each method, and
// prints one JSON line per method with
//   nfe        calls to v (dopri5 per-sample stepping: a call may cover fewer rows than N),
//   sliced_w2  sliced W2 (256 projections) to as many fresh data points (the `rflow eval` measure),
//   rmse       sqrt(mean_i |x_i - x_ref_i|^2): the integration error against a reference solution
//              of the same ODE from the same noise (dopri5 at rtol = atol = --ref-tol),
//   sw2_ref    sliced W2 to that reference solution (its distribution-level integration error).
// Noise, data and projections use the streams of `rflow eval` (seed, streams 2, 3, 4), so its
// sliced_w2 matches `rflow eval --seed` with the same samples.
// Usage: nfe_quality_rflow --model CKPT [--samples N] [--seed S] [--dataset NAME]
//          [--euler 1,2,4,...] [--tols 1e-2,...] [--ref-tol 1e-7]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <rflow/rflow.hpp>
#include <rflow/samplers/sampler.hpp>

namespace {

std::vector<double> parse_list(const std::string& s) {
    std::vector<double> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(std::stod(item));
    return out;
}

double rmse(const rflow::Tensor& a, const rflow::Tensor& b) {
    const std::vector<float> x = a.to_vector(), y = b.to_vector();
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += double(x[i] - y[i]) * double(x[i] - y[i]);
    return std::sqrt(s / double(a.size(0)));
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_path, dataset, euler = "1,2,4,8,16,32,64,128", tols = "1e-2,1e-3,1e-4,1e-5";
    int64_t samples = 10000;
    uint64_t seed = 7;
    double ref_tol = 1e-7;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--model")) model_path = argv[i + 1];
        else if (!std::strcmp(argv[i], "--samples")) samples = std::atoll(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seed")) seed = std::strtoull(argv[i + 1], nullptr, 10);
        else if (!std::strcmp(argv[i], "--dataset")) dataset = argv[i + 1];
        else if (!std::strcmp(argv[i], "--euler")) euler = argv[i + 1];
        else if (!std::strcmp(argv[i], "--tols")) tols = argv[i + 1];
        else if (!std::strcmp(argv[i], "--ref-tol")) ref_tol = std::atof(argv[i + 1]);
        else { std::fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (model_path.empty()) { std::fprintf(stderr, "usage: %s --model CKPT [options]\n", argv[0]); return 2; }

    const rflow::io::Checkpoint ckpt = rflow::io::load_checkpoint(model_path);
    const nlohmann::json config = nlohmann::json::parse(ckpt.config);
    const nlohmann::json& mj = config.at("model_config");
    rflow::nn::VelocityMLPConfig cfg;
    cfg.data_dim = mj.at("data_dim").get<int64_t>();
    cfg.hidden = mj.at("hidden").get<int64_t>();
    cfg.depth = mj.at("depth").get<int64_t>();
    cfg.activation = mj.at("activation").get<std::string>();
    cfg.time_embedding = mj.at("time_embedding").get<std::string>();
    cfg.embedding_dim = mj.at("embedding_dim").get<int64_t>();
    if (dataset.empty()) dataset = config.value("dataset", std::string("8gaussians"));
    rflow::Generator init(0);
    rflow::nn::VelocityMLP model(cfg, init);
    model.eval();
    model.load_state_dict(ckpt.model);

    rflow::NoGradGuard no_grad;
    const rflow::samplers::VelocityField v = [&model](const rflow::Tensor& x, const rflow::Tensor& t) {
        return model.forward(x, t);
    };
    rflow::Generator noise(seed, 2), data_gen(seed, 3);
    const rflow::Tensor x0 = rflow::Tensor::normal({samples, cfg.data_dim}, noise);
    const rflow::Tensor data = rflow::data::sample_toy(dataset, samples, data_gen);

    rflow::samplers::SamplerOptions ref_opts;
    ref_opts.rtol = ref_opts.atol = ref_tol;
    const rflow::samplers::SampleResult ref = rflow::samplers::sample("dopri5", v, x0, ref_opts);

    const auto report = [&](const char* method, double steps_or_tol, const rflow::samplers::SampleResult& r) {
        rflow::Generator proj(seed, 4);
        const double sw = rflow::sliced_wasserstein(r.x, data, proj, 256);
        rflow::Generator proj_ref(seed, 4);
        const double sw_ref = rflow::sliced_wasserstein(r.x, ref.x, proj_ref, 256);
        std::printf("{\"method\":\"%s\",\"%s\":%g,\"nfe\":%lld,\"row_evaluations\":%lld,\"sliced_w2\":%.6f,"
                    "\"rmse\":%.6g,\"sw2_ref\":%.6g}\n",
                    method, std::strcmp(method, "euler") ? "tol" : "steps", steps_or_tol,
                    static_cast<long long>(r.nfe), static_cast<long long>(r.row_evaluations), sw, rmse(r.x, ref.x),
                    sw_ref);
        std::fflush(stdout);
    };
    report("reference", ref_tol, ref);
    for (double k : parse_list(euler)) {
        rflow::samplers::SamplerOptions o;
        o.steps = static_cast<int64_t>(k);
        report("euler", k, rflow::samplers::sample("euler", v, x0, o));
    }
    for (double tol : parse_list(tols)) {
        rflow::samplers::SamplerOptions o;
        o.rtol = o.atol = tol;
        report("dopri5", tol, rflow::samplers::sample("dopri5", v, x0, o));
    }
    return 0;
}
