// The rflow side of bench/run_toy_flow.sh: the toy flow-matching job (MLP 3->256->256->256->2,
// SiLU, batch 1024, Adam 1e-3) timed after warm-up, best of --repeats; prints one JSON line.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <rflow/data/toy2d.hpp>
#include <rflow/nn/velocity_mlp.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/trainers/flow_matching.hpp>

int main(int argc, char** argv) {
    int threads = 1, steps = 300, repeats = 3, warmup = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
        else { std::fprintf(stderr, "usage: %s [--threads N] [--steps S] [--repeats R]\n", argv[0]); return 2; }
    }
    rflow::set_num_threads(threads);
    double best = 0;
    float final_loss = 0;
    for (int r = 0; r < repeats; ++r) {
        rflow::Generator init(0);
        rflow::nn::VelocityMLPConfig cfg;  // 2 + t -> 256 x3 -> 2, SiLU
        rflow::nn::VelocityMLP model(cfg, init);
        rflow::optim::Adam opt(model.parameters());
        rflow::trainers::FlowMatchingConfig tc;
        tc.batch = 1024;
        tc.steps = warmup + steps;
        rflow::trainers::FlowMatchingTrainer trainer(
            model, opt, [](int64_t n, rflow::Generator& g) { return rflow::data::sample_toy("8gaussians", n, g); }, tc);
        for (int i = 0; i < warmup; ++i) trainer.step();
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < steps; ++i) final_loss = trainer.step();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, steps / s);
    }
    std::printf("{\"impl\":\"rflow\",\"threads\":%d,\"steps_per_s\":%.2f,\"final_loss\":%.4f}\n", threads, best,
                final_loss);
    return 0;
}
