// The rflow side of bench/run_unet.sh: the default class-conditional U-Net (nn::UNetConfig with
// 10 classes, 28x28x1) timed in one of two modes, best of --repeats after one warm-up:
//   --mode train:  flow-matching trainer steps (Adam 1e-3, label dropout 0.1) at --batch
//   --mode sample: Euler sampling over --steps steps, no autograd, at --batch
// Prints one JSON line with the peak RSS of the process (each mode runs in its own process).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <rflow/rflow.hpp>
#include <rflow/nn/unet.hpp>
#include <rflow/samplers/sampler.hpp>
#include <rflow/trainers/flow_matching.hpp>

namespace {

double peak_rss_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
}

int usage(const char* argv0) {
    std::fprintf(stderr, "usage: %s --mode train|sample [--threads N] [--steps S] [--repeats R] [--batch B]\n", argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode;
    int threads = 1, steps = 20, repeats = 3;
    int64_t batch = 128;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--batch")) batch = std::atoll(argv[i + 1]);
        else return usage(argv[0]);
    }
    if (mode != "train" && mode != "sample") return usage(argv[0]);
    rflow::set_num_threads(threads);
    rflow::Generator init(0);
    rflow::nn::UNetConfig cfg;
    cfg.num_classes = 10;
    rflow::nn::UNet model(cfg, init);
    int64_t params = 0;
    for (const rflow::Tensor& p : model.parameters()) params += p.numel();
    rflow::Generator data_gen(1);
    std::vector<int64_t> labels(batch);
    data_gen.randint(labels.data(), batch, 0, 10);
    const std::vector<int64_t> shape{batch, 1, 28, 28};

    double best = 1e30, value = 0;
    if (mode == "train") {
        rflow::optim::Adam opt(model.parameters());  // lr 1e-3
        const rflow::Tensor x1 = rflow::Tensor::uniform(shape, data_gen, -1.f, 1.f);
        rflow::trainers::FlowMatchingConfig tc;
        tc.batch = batch;
        tc.steps = int64_t{steps} * (repeats + 1);
        tc.label_dropout = 0.1f;
        rflow::trainers::FlowMatchingTrainer trainer(
            model, opt,
            [&](int64_t n, rflow::Generator& g) {
                return rflow::trainers::TrainingBatch{rflow::Tensor::normal({n, 1, 28, 28}, g), x1, labels};
            },
            tc);
        for (int r = 0; r <= repeats; ++r) {  // r = 0 is the warm-up
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < steps; ++i) value = trainer.step();
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (r > 0) best = std::min(best, s);
        }
    } else {
        rflow::NoGradGuard no_grad;
        model.eval();
        const rflow::samplers::VelocityField v = [&](const rflow::Tensor& x, const rflow::Tensor& t) {
            return model.forward(x, t, labels);
        };
        const auto sampler = rflow::samplers::make_sampler("euler");
        rflow::samplers::SamplerOptions opts;
        opts.steps = steps;
        opts.per_sample = false;
        const rflow::Tensor x0 = rflow::Tensor::normal(shape, data_gen);
        for (int r = 0; r <= repeats; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            const rflow::samplers::SampleResult res = sampler->sample(v, x0, opts);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (r > 0) best = std::min(best, s);
            value = rflow::mean(rflow::abs(res.x)).item();
        }
    }
    std::printf("{\"impl\":\"rflow\",\"mode\":\"%s\",\"threads\":%d,\"batch\":%lld,\"params\":%lld,\"seconds\":%.4f,"
                "\"peak_rss_mib\":%.1f,",
                mode.c_str(), threads, static_cast<long long>(batch), static_cast<long long>(params), best,
                peak_rss_mib());
    if (mode == "train") std::printf("\"steps_per_s\":%.3f,\"final_loss\":%.4f}\n", steps / best, value);
    else std::printf("\"images_per_s\":%.2f,\"mean_abs_x1\":%.4f}\n", batch / best, value);
    return 0;
}
