// GEMM roofline for the toy flow-matching benchmark (DESIGN.md section 8).
// Times OpenBLAS cblas_sgemm on exactly the GEMMs of one training step of the
// velocity MLP 3->256->256->256->2 at batch 1024 (weights stored [out, in] as
// in PyTorch): forward Y = X W^T, backward dX = dY W and dW = dY^T X per layer.
// The first layer needs no dX (its input is data), so 11 GEMMs per step.
// With --job sample (bench/run_sampling.sh) a step is one Euler step of sampling instead: the 4
// forward GEMMs only, at batch --batch (default 10000 for sample, 1024 for train).
// Usage: sgemm_roofline --threads N --steps S --repeats R [--job train|sample] [--batch B]
// Prints one JSON line; steps_per_s = 1 / (time of all GEMMs of one step).
// Build: g++ -O3 -march=native sgemm_roofline.cpp -lopenblas
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Gemm {  // C[m x n] = op(A) op(B), inner dimension k
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    std::vector<float> a, b, c;
};

void run(Gemm& g) {
    const int lda = g.ta == CblasNoTrans ? g.k : g.m;
    const int ldb = g.tb == CblasNoTrans ? g.n : g.k;
    cblas_sgemm(CblasRowMajor, g.ta, g.tb, g.m, g.n, g.k, 1.0f, g.a.data(), lda,
                g.b.data(), ldb, 0.0f, g.c.data(), g.n);
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 1, steps = 300, repeats = 3, batch = 0;
    std::string job = "train";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--job")) job = argv[i + 1];
        else if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(argv[i + 1]);
        else { std::fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (job != "train" && job != "sample") { std::fprintf(stderr, "--job must be train or sample\n"); return 2; }
    const bool sampling = job == "sample";
    if (batch <= 0) batch = sampling ? 10000 : 1024;
    openblas_set_num_threads(threads);

    const int dims[] = {3, 256, 256, 256, 2};
    std::vector<Gemm> gemms;
    const auto add = [&](CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k) {
        gemms.push_back({ta, tb, m, n, k, std::vector<float>(std::size_t(m) * k),
                         std::vector<float>(std::size_t(k) * n),
                         std::vector<float>(std::size_t(m) * n)});
    };
    for (int l = 0; l < 4; ++l) {  // forward: [B,in] x [out,in]^T -> [B,out]
        add(CblasNoTrans, CblasTrans, batch, dims[l + 1], dims[l]);
    }
    for (int l = 3; l >= 0 && !sampling; --l) {  // backward
        if (l > 0) add(CblasNoTrans, CblasNoTrans, batch, dims[l], dims[l + 1]);  // dX = dY W
        add(CblasTrans, CblasNoTrans, dims[l + 1], dims[l], batch);               // dW = dY^T X
    }

    std::mt19937 rng(0);
    std::normal_distribution<float> normal;
    double flops = 0;
    for (auto& g : gemms) {
        for (auto* v : {&g.a, &g.b}) std::generate(v->begin(), v->end(), [&] { return normal(rng); });
        flops += 2.0 * g.m * g.n * g.k;
    }

    const auto step = [&] { for (auto& g : gemms) run(g); };
    for (int i = 0; i < 20; ++i) step();  // warm-up
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < steps; ++i) step();
        const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        best = std::min(best, dt.count() / steps);
    }
    if (sampling) {
        std::printf("{\"impl\": \"sgemm_roofline\", \"threads\": %d, \"steps_per_s\": %.2f, "
                    "\"samples_steps_per_s\": %.4g, \"gflops\": %.2f}\n",
                    threads, 1.0 / best, batch / best, flops / best * 1e-9);
        return 0;
    }
    std::printf("{\"impl\": \"sgemm_roofline\", \"threads\": %d, \"steps_per_s\": %.2f, "
                "\"gflops\": %.2f}\n",
                threads, 1.0 / best, flops / best * 1e-9);
    return 0;
}
