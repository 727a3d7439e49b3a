// The rflow side of bench/run_sampling.sh: Euler sampling of --samples points over --steps steps
// through the toy velocity MLP v(x, t) = MLP([x, t]) 3->256->256->256->2 (SiLU, random weights),
// no autograd; one warm-up run, then the best of --repeats; prints one JSON line.
// steps_per_s counts Euler steps (one forward of the whole batch each) per second.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <rflow/rflow.hpp>
#include <rflow/samplers/sampler.hpp>

int main(int argc, char** argv) {
    int threads = 1, steps = 100, repeats = 3;
    int64_t samples = 10000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--samples")) samples = std::atoll(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: %s [--threads N] [--steps S] [--repeats R] [--samples B]\n", argv[0]);
            return 2;
        }
    }
    rflow::set_num_threads(threads);
    rflow::NoGradGuard no_grad;
    rflow::Generator init(0);
    rflow::nn::VelocityMLPConfig cfg;  // 2 + t -> 256 x3 -> 2, SiLU
    rflow::nn::VelocityMLP model(cfg, init);
    const rflow::samplers::VelocityField v = [&model](const rflow::Tensor& x, const rflow::Tensor& t) {
        return model.forward(x, t);
    };
    const auto sampler = rflow::samplers::make_sampler("euler");
    rflow::samplers::SamplerOptions opts;
    opts.steps = steps;
    rflow::Generator noise(1);
    const rflow::Tensor x0 = rflow::Tensor::normal({samples, cfg.data_dim}, noise);

    double checksum = 0;
    sampler->sample(v, x0, opts);  // warm-up: allocator cache, thread pool, BLAS buffers
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const rflow::samplers::SampleResult res = sampler->sample(v, x0, opts);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        checksum = rflow::mean(rflow::abs(res.x)).item();
    }
    std::printf("{\"impl\":\"rflow\",\"threads\":%d,\"steps_per_s\":%.2f,\"samples_steps_per_s\":%.4g,"
                "\"seconds\":%.4f,\"mean_abs_x1\":%.4f}\n",
                threads, steps / best, double(samples) * steps / best, best, checksum);
    return 0;
}
