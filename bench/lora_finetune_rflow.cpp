// LoRA fine-tuning experiment (docs/lora-results.md; not a test): a 1-RF velocity MLP is trained on a
// source distribution, then adapted to a target distribution with full fine-tuning and with LoRA,
// LoRA+, LoRA-GA, PiSSA and DoRA at the same rank, learning rate and step budget. Prints one JSON
// line per evaluation (smoothed loss and sliced W2 of Euler-50 samples against the target) and
// writes the loss curves as a PNG.
// Usage: lora_finetune_rflow [--source moons] [--target 8gaussians] [--steps 1000] [--rank 8]
//        [--lr 1e-3] [--out lora_curves.png]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <rflow/rflow.hpp>
#include <rflow/data/toy2d.hpp>
#include <rflow/io/plot.hpp>
#include <rflow/metrics.hpp>
#include <rflow/nn/lora.hpp>
#include <rflow/nn/velocity_mlp.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/samplers/euler.hpp>
#include <rflow/trainers/flow_matching.hpp>

using namespace rflow;

namespace {

double quality(nn::VelocityMLP& model, const std::string& target) {
    NoGradGuard ng;
    Generator noise(7), data(8), proj(9);
    const Tensor x1 = samplers::sample_euler(
        [&](const Tensor& x, const Tensor& t) { return model.forward(x, t); }, Tensor::normal({5000, 2}, noise), 50);
    return sliced_wasserstein(x1, data::sample_toy(target, 5000, data), proj);
}

}  // namespace

int main(int argc, char** argv) {
    std::string source = "moons", target = "8gaussians", out = "lora_curves.png";
    int64_t steps = 1000, rank = 8, base_steps = 3000;
    float lr = 1e-3f;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--source") source = argv[i + 1];
        else if (k == "--target") target = argv[i + 1];
        else if (k == "--steps") steps = std::atoll(argv[i + 1]);
        else if (k == "--base-steps") base_steps = std::atoll(argv[i + 1]);
        else if (k == "--rank") rank = std::atoll(argv[i + 1]);
        else if (k == "--lr") lr = std::strtof(argv[i + 1], nullptr);
        else if (k == "--out") out = argv[i + 1];
        else {
            std::fprintf(stderr, "unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    // the base model on the source distribution
    nn::VelocityMLPConfig cfg;
    Generator init(0);
    nn::VelocityMLP base(cfg, init);
    {
        optim::Adam opt(base.parameters());
        trainers::FlowMatchingConfig tc;
        tc.steps = base_steps;
        tc.batch = 512;
        trainers::FlowMatchingTrainer t(base, opt, [&](int64_t n, Generator& g) { return data::sample_toy(source, n, g); }, tc);
        t.train();
    }
    nn::NamedTensors base_state;
    for (const auto& [k, v] : base.state_dict()) base_state.emplace_back(k, v.clone());
    std::printf("{\"base\":\"%s\",\"target\":\"%s\",\"sliced_w2_base_vs_target\":%.4f}\n", source.c_str(), target.c_str(),
                quality(base, target));

    std::vector<io::XYSeries> curves;
    const std::vector<std::string> methods{"full", "lora", "lora+", "lora-ga", "pissa", "dora"};
    for (size_t mi = 0; mi < methods.size(); ++mi) {
        const std::string& m = methods[mi];
        Generator g(1);
        nn::VelocityMLP model(cfg, g);
        model.load_state_dict(base_state);
        auto source_fn = [&](int64_t n, Generator& gen) { return data::sample_toy(target, n, gen); };
        std::unique_ptr<nn::LoRAModel> lora;
        std::vector<optim::ParamGroup> groups;
        if (m == "full") {
            groups = {{"all", model.parameters(), lr, 0.f}};
        } else {
            nn::LoRATargets t;
            t.targets = {"net.2", "net.4"};  // the two hidden 256 x 256 layers
            nn::LoRAConfig lc;
            lc.rank = rank;
            lc.alpha = static_cast<float>(2 * rank);
            lc.init = m == "pissa" ? "pissa" : "default";
            lc.dora = m == "dora";
            lora = std::make_unique<nn::LoRAModel>(model, t, lc, g);
            if (m == "lora-ga")  // gradient of the loss in each target weight on 128 fresh samples
                lora->init_lora_ga([&](int64_t n, Generator& ga) {
                    return trainers::flow_matching_loss(model, Tensor::normal({n, 2}, ga), source_fn(n, ga),
                                                        Tensor::uniform({n}, ga));
                }, 128, 2);
            groups = lora->lora_plus_groups(lr, m == "lora+" ? 16.f : 1.f);
        }
        optim::Adam opt(groups);
        trainers::FlowMatchingConfig tc;
        tc.steps = steps;
        tc.batch = 512;
        tc.seed = 3;
        trainers::FlowMatchingTrainer trainer(model, opt, source_fn, tc);
        io::XYSeries s{m, {}, {}, io::palette(mi)};
        double window = 0;
        for (int64_t step = 1; step <= steps; ++step) {
            window += trainer.step();
            if (step % 50 == 0) {
                s.x.push_back(static_cast<double>(step));
                s.y.push_back(window / 50);
                window = 0;
            }
            if (step % 250 == 0)
                std::printf("{\"method\":\"%s\",\"step\":%lld,\"loss\":%.4f,\"sliced_w2\":%.4f}\n", m.c_str(),
                            static_cast<long long>(step), s.y.back(), quality(model, target));
            std::fflush(stdout);
        }
        curves.push_back(s);
    }
    io::write_xy_png(out, "fine-tuning " + source + " -> " + target + ": loss (mean of 50 steps)", "step", "loss",
                     curves, false, true);
    std::printf("wrote %s\n", out.c_str());
    return 0;
}
