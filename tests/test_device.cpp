// Devices end to end: moving tensors and modules, clear errors for mixed devices and host access,
// and the same seed giving the same run on the CPU and on CUDA: toy flow training (losses step by
// step), sampling, a U-Net and a DiT (forward and backward), a WGAN-GP critic step (double
// backward), reflow pair generation and LoRA fine-tuning.
//
// On a machine without a GPU the CUDA cases skip, except under RFLOW_EMULATE_CUDA=1 (meson sets it
// for this test): Device::cuda is then host memory run by the CPU kernels, which still catches code
// that reads device tensors on the host, mixes devices, or leaves a tensor behind on the CPU.
#include <doctest/doctest.h>

#include <cmath>
#include <rflow/rflow.hpp>
#include <rflow/nn/critic.hpp>
#include <rflow/nn/critic_loss.hpp>
#include <rflow/nn/dit.hpp>
#include <rflow/nn/lora.hpp>
#include <rflow/nn/unet.hpp>
#include <rflow/nn/velocity_mlp.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/samplers/sampler.hpp>
#include <rflow/trainers/flow_matching.hpp>
#include <rflow/trainers/gan_trainer.hpp>
#include <rflow/trainers/reflow.hpp>
#include <rflow/data/toy2d.hpp>

#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;

namespace {

bool have_device() {
    static const bool ok = [] {
        if (!cuda_available()) MESSAGE("no CUDA device: device cases skipped");
        else if (cuda_emulated()) MESSAGE("RFLOW_EMULATE_CUDA: Device::cuda runs the CPU kernels (plumbing check only)");
        return cuda_available();
    }();
    return ok;
}

double rel(const Tensor& a, const Tensor& b) {
    double m = 1e-12;
    for (float v : b.to_vector()) m = std::max(m, static_cast<double>(std::fabs(v)));
    return max_abs_diff(a.to(Device::cpu), b.to(Device::cpu)) / m;
}

/// Every parameter of the module lives on d.
bool all_on(const nn::Module& m, Device d) {
    for (const Tensor& p : m.parameters())
        if (p.device() != d) return false;
    for (const auto& [n, b] : m.named_buffers())
        if (b.device() != d) return false;
    return true;
}

}  // namespace

TEST_CASE("tensors move between devices; host access and mixed devices are clear errors") {
    if (!have_device()) return;
    const Tensor x = rand_tensor({3, 4}, 1);
    Tensor d = x.to(Device::cuda);
    CHECK(d.device() == Device::cuda);
    CHECK(d.to(Device::cuda).shares_storage(d));  // already there: the same tensor
    CHECK(d.to_vector() == x.to_vector());
    CHECK(d.to(Device::cpu).to_vector() == x.to_vector());
    CHECK(x.t().to(Device::cuda).to_vector() == x.t().contiguous().to_vector());  // strided source
    CHECK_THROWS_AS(d.data(), Error);
    CHECK_THROWS_WITH_AS(add(x, d), doctest::Contains("different devices"), Error);
    CHECK_THROWS_AS(matmul(x, d.t()), Error);
    // `to` is differentiable: the gradient comes back to the CPU leaf
    Tensor leaf = x.clone().detach();
    leaf.requires_grad_(true);
    sum(square(leaf.to(Device::cuda))).backward();
    CHECK(leaf.grad().device() == Device::cpu);
    CHECK(max_abs_diff(leaf.grad(), mul(x, 2.f)) < 1e-6);
}

TEST_CASE("Module::to moves the weights the layers use, in place") {
    if (!have_device()) return;
    Generator g(3);
    nn::VelocityMLPConfig cfg;
    cfg.hidden = 32;
    cfg.time_embedding = "fourier";
    nn::VelocityMLP cpu(cfg, g), gpu(cfg, g);
    gpu.load_state_dict(cpu.state_dict());
    std::vector<Tensor> handles = gpu.parameters();  // e.g. an optimizer's
    gpu.to(Device::cuda);
    CHECK(all_on(gpu, Device::cuda));
    CHECK(gpu.device() == Device::cuda);
    for (const Tensor& h : handles) CHECK(h.device() == Device::cuda);  // earlier handles follow
    const Tensor x = rand_tensor({5, 2}, 4), t = rand_tensor({5}, 5, 0.f, 1.f);
    const Tensor y = gpu.forward(x.to(Device::cuda), t.to(Device::cuda));
    CHECK(y.device() == Device::cuda);
    CHECK(rel(y, cpu.forward(x, t)) < 1e-5);
    gpu.to(Device::cpu);
    CHECK(all_on(gpu, Device::cpu));
    CHECK(rel(gpu.forward(x, t), cpu.forward(x, t)) < 1e-5);
}

TEST_CASE("every optimizer updates parameters on CUDA as it does on the CPU (with weight decay)") {
    if (!have_device()) return;
    for (const std::string& name : optim::optimizer_names()) {
        CAPTURE(name);
        Tensor pc = rand_tensor({7, 5}, 61).detach(), pd = pc.to(Device::cuda).detach();
        pc.requires_grad_(true);
        pd.requires_grad_(true);
        auto oc = optim::make_optimizer(name, {optim::ParamGroup{"", {pc}, 1e-2f, 0.1f}});
        auto od = optim::make_optimizer(name, {optim::ParamGroup{"", {pd}, 1e-2f, 0.1f}});
        for (int s = 0; s < 5; ++s) {
            const Tensor g = rand_tensor({7, 5}, 70 + s);
            pc.set_grad(g);
            pd.set_grad(g.to(Device::cuda));
            oc->step();
            od->step();
        }
        CHECK(pd.device() == Device::cuda);
        CHECK(max_abs_diff(pd.to(Device::cpu), pc) < 1e-6);
    }
}

TEST_CASE("toy flow: the same seed trains to matching losses on the CPU and on CUDA") {
    if (!have_device()) return;
    std::vector<float> losses[2];
    Tensor samples[2];
    for (int dev = 0; dev < 2; ++dev) {
        Generator init(11);
        nn::VelocityMLPConfig cfg;
        cfg.hidden = 64;
        nn::VelocityMLP model(cfg, init);
        model.to(dev ? Device::cuda : Device::cpu);
        optim::AdamOptions ao;
        ao.lr = 1e-3f;
        optim::Adam opt(model.parameters(), ao);
        trainers::FlowMatchingConfig fc;
        fc.steps = 30;
        fc.batch = 128;
        fc.seed = 12;
        fc.ema_decay = 0.9f;
        fc.grad_clip = 1.f;
        trainers::FlowMatchingTrainer tr(model, opt, [](int64_t n, Generator& g) { return data::sample_toy("moons", n, g); },
                                         fc);
        for (int s = 0; s < 30; ++s) losses[dev].push_back(tr.step());
        CHECK(all_on(model, dev ? Device::cuda : Device::cpu));
        NoGradGuard ng;
        Generator gz(13);
        const Tensor z = Tensor::normal({256, 2}, gz).to(model.device());
        samples[dev] = samplers::sample("rk4", [&](const Tensor& x, const Tensor& t) { return model.forward(x, t); }, z,
                                        {})
                           .x.to(Device::cpu);
    }
    for (int s = 0; s < 30; ++s) {
        CAPTURE(s);
        CHECK(std::fabs(losses[1][s] - losses[0][s]) <= 1e-3f * std::fabs(losses[0][s]) + 1e-5f);
    }
    CHECK(losses[0].back() < losses[0].front());
    CHECK(rel(samples[1], samples[0]) < 1e-3);
}

TEST_CASE("U-Net and DiT: forward and parameter gradients match across devices") {
    if (!have_device()) return;
    Generator g(21);
    nn::UNetConfig uc;
    uc.image_size = 8;
    uc.base_channels = 8;
    uc.channel_mults = {1, 2};
    uc.res_blocks = 1;
    uc.attention_levels = {1};
    uc.heads = 2;
    uc.num_classes = 3;
    uc.dropout = 0.f;
    uc.groups = 4;
    nn::DiTConfig dc;
    dc.image_size = 8;
    dc.patch = 2;
    dc.dim = 32;
    dc.depth = 2;
    dc.num_classes = 3;
    dc.attention = "gqa";
    dc.kv_heads = 2;
    std::vector<std::pair<std::string, std::pair<std::unique_ptr<nn::VelocityModel>, std::unique_ptr<nn::VelocityModel>>>>
        models;
    models.emplace_back("unet", std::make_pair(std::make_unique<nn::UNet>(uc, g), std::make_unique<nn::UNet>(uc, g)));
    models.emplace_back("dit", std::make_pair(std::make_unique<nn::DiT>(dc, g), std::make_unique<nn::DiT>(dc, g)));
    const Tensor x = rand_tensor({4, 1, 8, 8}, 22), t = rand_tensor({4}, 23, 0.f, 1.f);
    const std::vector<int64_t> labels{0, 2, 1, 3};  // 3 = the null label
    for (auto& [name, pair] : models) {
        CAPTURE(name);
        nn::VelocityModel& a = *pair.first;
        nn::VelocityModel& b = *pair.second;
        b.load_state_dict(a.state_dict());
        b.to(Device::cuda);
        const Tensor ya = a.forward(x, t, labels), yb = b.forward(x.to(Device::cuda), t.to(Device::cuda), labels);
        CHECK(rel(yb, ya) < 1e-4);
        sum(square(ya)).backward();
        sum(square(yb)).backward();
        const auto pa = a.named_parameters(), pb = b.named_parameters();
        for (size_t i = 0; i < pa.size(); ++i) {
            CAPTURE(pa[i].first);
            if (!pa[i].second.grad().defined()) continue;
            REQUIRE(pb[i].second.grad().defined());
            CHECK(pb[i].second.grad().device() == Device::cuda);
            CHECK(max_abs_diff(pb[i].second.grad().to(Device::cpu), pa[i].second.grad()) <
                  1e-4 * (1 + std::sqrt(static_cast<double>(pa[i].second.numel()))));
        }
    }
}

TEST_CASE("WGAN-GP: the gradient penalty (double backward) and a GAN trainer step on CUDA") {
    if (!have_device()) return;
    Generator g(31);
    nn::MLPCriticConfig cc;
    cc.hidden = {32, 32};
    nn::MLPCritic a(cc, g), b(cc, g);
    b.load_state_dict(a.state_dict());
    b.to(Device::cuda);
    const Tensor real = rand_tensor({16, 2}, 32), fake = rand_tensor({16, 2}, 33), eps = rand_tensor({16}, 34, 0.f, 1.f);
    const nn::CriticLoss la = nn::critic_loss("wgan-gp", a, real, fake, eps);
    const nn::CriticLoss lb = nn::critic_loss("wgan-gp", b, real.to(Device::cuda), fake.to(Device::cuda),
                                              eps.to(Device::cuda));
    CHECK(std::fabs(la.penalty.item() - lb.penalty.item()) < 1e-4 * (1 + std::fabs(la.penalty.item())));
    la.total.backward();
    lb.total.backward();
    const auto pa = a.parameters(), pb = b.parameters();
    for (size_t i = 0; i < pa.size(); ++i) CHECK(rel(pb[i].grad(), pa[i].grad()) < 1e-4);

    nn::MLP gen(2, {32}, 2, g);
    gen.to(Device::cuda);
    optim::Adam go(gen.parameters(), optim::AdamOptions{}), co(b.parameters(), optim::AdamOptions{});
    trainers::GANConfig cfg;
    cfg.steps = 2;
    cfg.batch = 32;
    cfg.n_critic = 2;
    trainers::GANTrainer tr(gen, b, go, co, [](int64_t n, Generator& gg) { return data::sample_toy("8gaussians", n, gg); },
                            cfg);
    const trainers::GANStepStats s = tr.step();
    CHECK(std::isfinite(s.critic_loss));
    CHECK(all_on(gen, Device::cuda));
    Generator gs(1);
    CHECK(tr.sample(8, gs).device() == Device::cuda);
}

TEST_CASE("reflow pairs generated on CUDA equal those generated on the CPU") {
    if (!have_device()) return;
    Generator g(41);
    nn::VelocityMLPConfig cfg;
    cfg.hidden = 32;
    nn::VelocityMLP a(cfg, g), b(cfg, g);
    b.load_state_dict(a.state_dict());
    b.to(Device::cuda);
    trainers::PairGenerationOptions o;
    o.sampler = "euler";
    o.sampler_options.steps = 8;
    Generator ga(42), gb(42);
    const trainers::Pairs pa = trainers::generate_pairs([&](const Tensor& x, const Tensor& t) { return a.forward(x, t); },
                                                        {2}, 100, ga, o);
    o.device = Device::cuda;
    const trainers::Pairs pb = trainers::generate_pairs([&](const Tensor& x, const Tensor& t) { return b.forward(x, t); },
                                                        {2}, 100, gb, o);
    CHECK(pb.z1.device() == Device::cpu);
    CHECK(max_abs_diff(pb.z0, pa.z0) == 0);
    CHECK(rel(pb.z1, pa.z1) < 1e-4);
}

TEST_CASE("LoRA adapters attach, train and merge on CUDA") {
    if (!have_device()) return;
    Generator g(51);
    nn::VelocityMLPConfig cfg;
    cfg.hidden = 32;
    nn::VelocityMLP model(cfg, g);
    nn::LoRATargets targets;
    targets.targets = {"re:.*"};
    nn::LoRAConfig lc;
    lc.rank = 2;  // the input layer is 3 wide
    nn::LoRAModel lora(model, targets, lc, g);
    model.to(Device::cuda);
    CHECK(all_on(model, Device::cuda));
    optim::Adam opt(lora.parameters(), optim::AdamOptions{});
    const Tensor x = rand_tensor({8, 2}, 52).to(Device::cuda), t = rand_tensor({8}, 53, 0.f, 1.f).to(Device::cuda);
    for (int i = 0; i < 3; ++i) {
        opt.zero_grad();
        sum(square(model.forward(x, t))).backward();
        opt.step();
    }
    const Tensor before = model.forward(x, t);
    lora.merge();
    CHECK(rel(model.forward(x, t), before) < 1e-4);
}
