// The rflow side of bench/gpu_check.sh: GPU benchmarks on Device::cuda, one JSON line per result.
//   --job toy     flow-matching training steps/s of the toy velocity MLP (3 -> 256 x 3 -> 2, SiLU,
//                 Adam 1e-3) at batch 4096 on 8-gaussians data
//   --job sample  1,000,000 points x 100 Euler steps through that MLP (no autograd)
//   --job unet    training steps/s of the default class-conditional U-Net (28x28x1, batch 128)
//   --job gemm    each layer's GEMM as rflow runs it (linear(x, w): allocation, layout, launch)
//                 against a bare cublasSgemm on preallocated buffers of the same shape; the ratio
//                 cublas_time / rflow_time is the fraction of cuBLAS reached (target >= 0.7)
// --tf32 lets cuBLAS use TF32 tensor cores (rflow::set_allow_tf32) for every job.
// Times are the best of --repeats runs after a warm-up, with rflow::synchronize(Device::cuda).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include <rflow/rflow.hpp>
#include <rflow/data/toy2d.hpp>
#include <rflow/nn/unet.hpp>
#include <rflow/nn/velocity_mlp.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/samplers/sampler.hpp>
#include <rflow/trainers/flow_matching.hpp>

using namespace rflow;
using Clock = std::chrono::steady_clock;

namespace {

/// Best wall time of `repeats` calls of f after one warm-up call, the GPU drained after each.
double best_of(int repeats, const std::function<void()>& f) {
    f();
    synchronize(Device::cuda);
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        f();
        synchronize(Device::cuda);
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return best;
}

nn::VelocityMLPConfig toy_config() {
    nn::VelocityMLPConfig c;
    c.hidden = 256;
    c.depth = 3;
    return c;
}

void toy(int repeats, bool tf32) {
    Generator init(0);
    nn::VelocityMLP model(toy_config(), init);
    model.to(Device::cuda);
    optim::Adam opt(model.parameters());
    trainers::FlowMatchingConfig fc;
    fc.batch = 4096;
    fc.steps = 1 << 30;
    trainers::FlowMatchingTrainer tr(model, opt, [](int64_t n, Generator& g) { return data::sample_toy("8gaussians", n, g); },
                                     fc);
    const int steps = 50;
    float loss = 0;
    const double s = best_of(repeats, [&] {
        for (int i = 0; i < steps; ++i) loss = tr.step();
    });
    std::printf("{\"impl\":\"rflow\",\"job\":\"toy\",\"tf32\":%s,\"batch\":4096,\"steps_per_s\":%.2f,\"loss\":%.4f}\n",
                tf32 ? "true" : "false", steps / s, loss);
}

void sample(int repeats, bool tf32) {
    Generator init(0);
    nn::VelocityMLP model(toy_config(), init);
    model.to(Device::cuda);
    NoGradGuard ng;
    Generator gz(1);
    const Tensor x0 = Tensor::normal({1000000, 2}, gz, 0.f, 1.f, Device::cuda);
    Tensor x;
    const double s = best_of(repeats, [&] {
        x = x0;
        const int steps = 100;
        for (int i = 0; i < steps; ++i) {
            const Tensor t = Tensor::full({x.size(0)}, static_cast<float>(i) / steps, Device::cuda);
            x = add(x, mul(model.forward(x, t), 1.f / steps));  // x + v(x, t) dt
        }
    });
    std::printf("{\"impl\":\"rflow\",\"job\":\"sample\",\"tf32\":%s,\"points\":1000000,\"euler_steps\":100,"
                "\"seconds\":%.4f,\"mean_abs\":%.4f}\n",
                tf32 ? "true" : "false", s, mean(abs(x)).item());
}

void unet(int repeats, bool tf32) {
    Generator init(0);
    nn::UNetConfig cfg;
    cfg.num_classes = 10;
    nn::UNet model(cfg, init);
    model.to(Device::cuda);
    optim::Adam opt(model.parameters());
    Generator dg(1);
    const int64_t batch = 128;
    std::vector<int64_t> labels(batch);
    dg.randint(labels.data(), batch, 0, 10);
    const Tensor x1 = Tensor::uniform({batch, 1, 28, 28}, dg, -1.f, 1.f);
    trainers::FlowMatchingConfig tc;
    tc.batch = batch;
    tc.steps = 1 << 30;
    tc.label_dropout = 0.1f;
    trainers::FlowMatchingTrainer tr(
        model, opt, [&](int64_t n, Generator& g) { return trainers::TrainingBatch{Tensor::normal({n, 1, 28, 28}, g), x1, labels}; },
        tc);
    const int steps = 10;
    float loss = 0;
    const double s = best_of(repeats, [&] {
        for (int i = 0; i < steps; ++i) loss = tr.step();
    });
    std::printf("{\"impl\":\"rflow\",\"job\":\"unet\",\"tf32\":%s,\"batch\":128,\"steps_per_s\":%.2f,\"loss\":%.4f}\n",
                tf32 ? "true" : "false", steps / s, loss);
}

#define CHECK_CUBLAS(x)                                                 \
    do {                                                                \
        if ((x) != CUBLAS_STATUS_SUCCESS) {                             \
            std::fprintf(stderr, "cuBLAS call failed: %s\n", #x);       \
            std::exit(1);                                               \
        }                                                               \
    } while (0)

void gemm(int repeats, bool tf32) {
    // (rows M = batch, in K, out N) of the layers above: toy MLP at batch 4096 and 1e6 (sampling),
    // U-Net 1x1/attention projections and time MLP, DiT-style token MLPs
    struct Shape3 { const char* layer; int64_t m, k, n; };
    const Shape3 shapes[] = {{"toy hidden b4096", 4096, 256, 256},    {"toy input b4096", 4096, 3, 256},
                             {"toy hidden b1e6", 1000000, 256, 256},  {"toy output b1e6", 1000000, 256, 2},
                             {"unet attn qkv", 128 * 49, 64, 192},    {"unet time mlp", 128, 128, 128},
                             {"dit mlp up", 128 * 49, 128, 512},      {"dit mlp down", 128 * 49, 512, 128},
                             {"square 4096", 4096, 4096, 4096}};
    cublasHandle_t h;
    CHECK_CUBLAS(cublasCreate(&h));
    CHECK_CUBLAS(cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    for (const Shape3& s : shapes) {
        Generator g(3);
        const Tensor x = Tensor::uniform({s.m, s.k}, g, -1.f, 1.f, Device::cuda);
        const Tensor w = Tensor::uniform({s.n, s.k}, g, -1.f, 1.f, Device::cuda);
        NoGradGuard ng;
        const int iters = s.m * s.k * s.n > (int64_t{1} << 33) ? 5 : 50;
        const double t_rflow = best_of(repeats, [&] {
            for (int i = 0; i < iters; ++i) (void)linear(x, w);
        }) / iters;
        // the same product on raw buffers: y^T[n, m] = w[n, k] x^T[k, m] column-major
        float *dx, *dw, *dy;
        cudaMalloc(&dx, sizeof(float) * s.m * s.k);
        cudaMalloc(&dw, sizeof(float) * s.n * s.k);
        cudaMalloc(&dy, sizeof(float) * s.m * s.n);
        cudaMemset(dx, 0, sizeof(float) * s.m * s.k);
        cudaMemset(dw, 0, sizeof(float) * s.n * s.k);
        const float one = 1.f, zero = 0.f;
        auto bare = [&] {
            for (int i = 0; i < iters; ++i)
                CHECK_CUBLAS(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(s.n), static_cast<int>(s.m),
                                         static_cast<int>(s.k), &one, dw, static_cast<int>(s.k), dx,
                                         static_cast<int>(s.k), &zero, dy, static_cast<int>(s.n)));
            cudaDeviceSynchronize();
        };
        bare();
        double t_blas = 1e30;
        for (int r = 0; r < repeats; ++r) {
            const auto t0 = Clock::now();
            bare();
            t_blas = std::min(t_blas, std::chrono::duration<double>(Clock::now() - t0).count() / iters);
        }
        cudaFree(dx);
        cudaFree(dw);
        cudaFree(dy);
        const double flops = 2.0 * s.m * s.k * s.n;
        std::printf("{\"impl\":\"rflow\",\"job\":\"gemm\",\"tf32\":%s,\"layer\":\"%s\",\"m\":%lld,\"k\":%lld,\"n\":%lld,"
                    "\"rflow_tflops\":%.2f,\"cublas_tflops\":%.2f,\"fraction_of_cublas\":%.3f}\n",
                    tf32 ? "true" : "false", s.layer, static_cast<long long>(s.m), static_cast<long long>(s.k),
                    static_cast<long long>(s.n), flops / t_rflow * 1e-12, flops / t_blas * 1e-12, t_blas / t_rflow);
    }
    cublasDestroy(h);
}

}  // namespace

int main(int argc, char** argv) {
    std::string job;
    int repeats = 3;
    bool tf32 = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--job") && i + 1 < argc) job = argv[++i];
        else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--tf32")) tf32 = true;
        else job = "";
    }
    if (job != "toy" && job != "sample" && job != "unet" && job != "gemm") {
        std::fprintf(stderr, "usage: %s --job toy|sample|unet|gemm [--repeats R] [--tf32]\n", argv[0]);
        return 2;
    }
    if (!cuda_available() || cuda_emulated()) {
        std::fprintf(stderr, "gpu_bench_rflow: no CUDA GPU answers here\n");
        return 1;
    }
    set_allow_tf32(tf32);
    if (job == "toy") toy(repeats, tf32);
    else if (job == "sample") sample(repeats, tf32);
    else if (job == "unet") unet(repeats, tf32);
    else gemm(repeats, tf32);
    return 0;
}
