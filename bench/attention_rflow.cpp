// The rflow side of bench/run_attention.sh: one self-attention layer (nn::make_attention, d 256,
// 8 heads of 32, no mask, no RoPE except MLA's decoupled RoPE key) timed for forward + backward:
//   loss = sum(out * w) with a fixed random w, backward to the input x and every parameter.
// Variants (--variant): mha, gqa (kv_heads 2), mqa, mla (kv_latent 64, q_latent 96, rope_dim 16 with
// 1-D RoPE, RMSNorm on both latents, naive form). One warm-up step, then the best of --repeats
// timings of --steps steps each; prints one JSON line with the peak RSS of the process and its RSS
// right before the first step (run each (variant, L) in its own process so the peak is its own).
// --dump DIR instead writes the parameters, x, w, the output and every gradient of one step as raw
// float32 files (DIR/<name>.bin, shapes in DIR/manifest.txt) for attention_torch.py --check DIR,
// which loads the same weights and compares, so both sides are known to compute the same layer.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <rflow/rflow.hpp>
#include <rflow/nn/attention.hpp>

namespace {

double peak_rss_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
}

double current_rss_mib() {  // VmRSS from /proc/self/status
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
    return 0;
}

// Writes each tensor as DIR/<name>.bin (float32, row-major) and a line "name d0 d1 ..." in the manifest.
void dump(const std::string& dir, const std::vector<std::pair<std::string, rflow::Tensor>>& tensors) {
    std::ofstream manifest(dir + "/manifest.txt");
    for (const auto& [name, t] : tensors) {
        const rflow::Tensor c = t.contiguous();
        std::ofstream f(dir + "/" + name + ".bin", std::ios::binary);
        f.write(reinterpret_cast<const char*>(c.data()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
        manifest << name;
        for (int64_t s : c.shape()) manifest << ' ' << s;
        manifest << '\n';
    }
}

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s --variant mha|gqa|mqa|mla --len L --batch B [--threads N] [--steps S] [--repeats R]\n"
                 "       [--dump DIR]\n",
                 argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string variant, dump_dir;
    int threads = 1, steps = 1, repeats = 3;
    int64_t batch = 0, len = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--variant")) variant = argv[i + 1];
        else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--batch")) batch = std::atoll(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--len")) len = std::atoll(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--dump")) dump_dir = argv[i + 1];
        else return usage(argv[0]);
    }
    if ((variant != "mha" && variant != "gqa" && variant != "mqa" && variant != "mla") || batch <= 0 || len <= 0 ||
        steps <= 0 || repeats <= 0)
        return usage(argv[0]);
    rflow::set_num_threads(threads);

    constexpr int64_t dim = 256;
    rflow::nn::AttentionConfig cfg;
    cfg.kind = variant;
    cfg.dim = dim;
    cfg.heads = 8;
    cfg.head_dim = 32;
    if (variant == "gqa") cfg.kv_heads = 2;
    if (variant == "mla") {
        cfg.kv_latent = 64;
        cfg.q_latent = 96;
        cfg.rope_dim = 16;
        cfg.rope = "1d";
        cfg.latent_norm = true;  // RMSNorm on c and c' (the torch side has the same)
    }
    rflow::Generator init(0);
    const auto layer = rflow::nn::make_attention(cfg, init);
    std::vector<rflow::Tensor> params = layer->parameters();
    int64_t num_params = 0;
    for (const rflow::Tensor& p : params) num_params += p.numel();

    rflow::Generator data_gen(1);
    rflow::Tensor x = rflow::Tensor::normal({batch, len, dim}, data_gen);
    x.requires_grad_(true);
    const rflow::Tensor w = rflow::Tensor::normal({batch, len, dim}, data_gen);

    float loss_value = 0;
    const auto step = [&] {
        x.zero_grad();
        for (rflow::Tensor& p : params) p.zero_grad();
        const rflow::Tensor loss = rflow::sum(rflow::mul(layer->forward(x), w));
        loss.backward();
        loss_value = loss.item();
    };

    if (!dump_dir.empty()) {
        const rflow::Tensor out = layer->forward(x);
        const rflow::Tensor loss = rflow::sum(rflow::mul(out, w));
        loss.backward();
        std::vector<std::pair<std::string, rflow::Tensor>> tensors{
            {"x", x}, {"w", w}, {"out", out.detach()}, {"loss", loss.detach()}, {"grad.x", x.grad()}};
        for (const auto& [name, p] : layer->named_parameters()) {
            tensors.emplace_back("param." + name, p);
            tensors.emplace_back("grad." + name, p.grad());
        }
        dump(dump_dir, tensors);
        return 0;
    }

    const double rss_before = current_rss_mib();
    double best = 1e30;
    for (int r = 0; r <= repeats; ++r) {  // r = 0 is the warm-up (one step)
        const int n = r == 0 ? 1 : steps;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) step();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) best = std::min(best, s / steps);
    }
    double grad_abs = 0;  // a checksum that the backward reached the input
    {
        rflow::NoGradGuard no_grad;
        grad_abs = rflow::mean(rflow::abs(x.grad())).item();
    }
    std::printf("{\"impl\":\"rflow\",\"variant\":\"%s\",\"len\":%lld,\"batch\":%lld,\"threads\":%d,\"params\":%lld,"
                "\"ms_per_step\":%.2f,\"rss_before_mib\":%.1f,\"peak_rss_mib\":%.1f,\"loss\":%.4g,"
                "\"mean_abs_dx\":%.4g}\n",
                variant.c_str(), static_cast<long long>(len), static_cast<long long>(batch), threads,
                static_cast<long long>(num_params), best * 1e3, rss_before, peak_rss_mib(), loss_value, grad_abs);
    return 0;
}
