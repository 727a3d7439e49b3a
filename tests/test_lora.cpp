// LoRA adapters: output preservation of every init, gradient checks, exact unmerge, LoRA-GA's
// first-step alignment, optimality, shapes (SPEC 2.f), LoRA+ groups and the gradient-norm
// ratio (SPEC 3.f), target matching and selection by width. Adapter files: test_lora_file.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include <rflow/nn/lora.hpp>
#include <rflow/autograd.hpp>
#include <rflow/linalg.hpp>
#include <rflow/nn/mlp.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/optim/sgd.hpp>

#include "gradcheck.hpp"

using namespace rflow;
using nn::LoRA;
using nn::LoRAConfig;
using rflow::testing::check_grad;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

namespace {

// ||G A^T A + B B^T G - G||_F: how far one unit-scale LoRA step is from full fine-tuning (SPEC 2.b).
double step_mismatch(const Tensor& g, const Tensor& a, const Tensor& b) {
    NoGradGuard ng;
    const Tensor m = sub(add(matmul(g, matmul(a.t(), a)), matmul(matmul(b, b.t()), g)), g);
    return std::sqrt(sum(square(m)).item());
}

double tail_norm(const Tensor& s, int64_t from) {
    double t = 0;
    const std::vector<float> v = s.to_vector();
    for (size_t i = from; i < v.size(); ++i) t += double(v[i]) * v[i];
    return std::sqrt(t);
}

// A least-squares layer: L = 1/2 mean ||x W^T - y||^2 over a fixed batch; returns G = dL/dW.
Tensor ls_gradient(nn::Linear& layer, const Tensor& x, const Tensor& y) {
    Tensor w = layer.weight();
    const bool was = w.requires_grad();
    w.requires_grad_(true);
    Tensor loss = mul(mean(sum(square(sub(layer.forward(x), y)), {1})), 0.5f);
    Tensor g = grad({loss}, {w})[0];
    w.requires_grad_(was);
    return g;
}

}  // namespace

TEST_CASE("every init leaves the output unchanged; the adapted layer has correct gradients") {
    const Tensor x = rand_tensor({5, 12}, 1);
    for (const char* init : {"default", "pissa", "lora-ga"})
        for (bool dora : {false, true})
            for (bool rs : {false, true}) {
                CAPTURE(init);
                CAPTURE(dora);
                Generator gen(3);
                nn::Linear layer(12, 10, gen);
                Tensor before;
                {
                    NoGradGuard ng;
                    before = layer.forward(x);
                }
                LoRAConfig c;
                c.rank = 3;
                c.dora = dora;
                c.rslora = rs;
                c.init = init;
                LoRA lora(layer, c, gen);
                if (std::string(init) == "lora-ga") lora.init_lora_ga(rand_tensor({10, 12}, 7));
                NoGradGuard ng;
                CHECK(max_abs_diff(layer.forward(x), before) < 1e-5);
            }
    // gradients with respect to x, A, B (and DoRA's magnitude) against central differences. DoRA
    // treats the row norm ||W0 + s B A|| as a constant in backward (DoRA section 4.3, as PEFT
    // does), so its A and B gradients are not the derivative of the output; for DoRA they are
    // checked with that norm frozen: out = m / n0 (W0 x + s B A x) + bias, n0 fixed.
    for (bool dora : {false, true}) {
        Generator gen(5);
        nn::Linear layer(6, 4, gen);
        LoRAConfig c;
        c.rank = 2;
        c.dora = dora;
        LoRA lora(layer, c, gen);
        lora.B().copy_(rand_tensor({4, 2}, 8));  // a non-trivial adapter
        V inputs{rand_tensor({3, 6}, 9)};
        for (const Tensor& p : lora.parameters()) inputs.push_back(p);
        if (!dora) {
            auto r = check_grad([&](const V& in) { return layer.forward(in[0]); }, inputs);
            CHECK_MESSAGE(r.ok, r.report);
        } else {
            // x and m: exact derivatives of the layer
            auto r = check_grad([&](const V& in) { return layer.forward(in[0]); }, {inputs[0], inputs[3]});
            CHECK_MESSAGE(r.ok, r.report);
            // A and B: the layer's gradient equals that of the frozen-norm formula
            Tensor n0;
            {
                NoGradGuard ng;
                n0 = sqrt(sum(square(add(layer.weight(), mul(matmul(lora.B(), lora.A()), lora.scaling()))), {1}));
            }
            auto frozen = [&](const V& in) {
                const Tensor w = add(layer.weight(), mul(matmul(in[2], in[1]), lora.scaling()));
                return add(mul(matmul(in[0], w.t()), div(lora.magnitude(), n0)), layer.bias());
            };
            const V abx{inputs[0], lora.A(), lora.B()};
            auto rf = check_grad(frozen, abx);
            CHECK_MESSAGE(rf.ok, rf.report);
            Tensor x = inputs[0].detach(), gy = rand_tensor({3, 4}, 10);
            const auto g_layer = grad({sum(mul(layer.forward(x), gy))}, {lora.A(), lora.B()});
            const auto g_frozen = grad({sum(mul(frozen({x, lora.A(), lora.B()}), gy))}, {lora.A(), lora.B()});
            CHECK(max_abs_diff(g_layer[0], g_frozen[0]) < 1e-5);
            CHECK(max_abs_diff(g_layer[1], g_frozen[1]) < 1e-5);
        }
        CHECK_FALSE(layer.weight().requires_grad());  // the base is frozen
    }
}

TEST_CASE("merge agrees with the adapter and unmerge restores the base weight bit for bit") {
    for (bool dora : {false, true}) {
        Generator gen(11);
        nn::Linear layer(8, 6, gen);
        const Tensor w0 = layer.weight().clone();
        LoRAConfig c;
        c.rank = 2;
        c.dora = dora;
        LoRA lora(layer, c, gen);
        lora.B().copy_(rand_tensor({6, 2}, 12));
        const Tensor x = rand_tensor({4, 8}, 13);
        NoGradGuard ng;
        const Tensor unmerged = layer.forward(x);
        lora.merge();
        CHECK(max_abs_diff(layer.forward(x), unmerged) < 1e-5);
        CHECK_THROWS_AS(lora.merge(), Error);
        lora.unmerge();
        CHECK(max_abs_diff(layer.weight(), w0) == 0.0);
        CHECK(max_abs_diff(layer.forward(x), unmerged) == 0.0);
    }
}

TEST_CASE("LoRA-GA: shapes and orthonormality, first-step alignment, optimality (SPEC 2.f.2-4)") {
    const int64_t m = 64, n = 48, r = 4;  // out 64, in 48
    Generator gen(21);
    nn::Linear layer(n, m, gen, false);
    const Tensor x = Tensor::normal({256, n}, gen), y = Tensor::normal({256, m}, gen);
    const Tensor g = ls_gradient(layer, x, y);
    const Svd d = svd(g);
    const double tail = tail_norm(d.S, 2 * r);

    // unit scales (s = 1: alpha = r; c = 1: gamma = sqrt(m)) so one SGD step compares directly
    LoRAConfig c;
    c.rank = r;
    c.alpha = static_cast<float>(r);
    c.ga_gamma = std::sqrt(static_cast<float>(m));
    LoRA lora(layer, c, gen);
    lora.init_lora_ga(g);
    const Tensor a0 = lora.A().clone(), b0 = lora.B().clone();
    {
        NoGradGuard ng;  // SPEC 2.f.4: A has orthonormal rows, B orthonormal columns (times c = 1)
        CHECK(max_abs_diff(matmul(a0, a0.t()), Tensor::from_vector(std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, {4, 4})) < 1e-5);
        CHECK(max_abs_diff(matmul(b0.t(), b0), Tensor::from_vector(std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, {4, 4})) < 1e-5);
    }
    // SPEC 2.f.3: the objective at the LoRA-GA init is the tail of the spectrum
    CHECK(step_mismatch(g, a0, b0) == doctest::Approx(tail).epsilon(1e-4));
    {
        NoGradGuard ng;
        const Tensor a_sw = d.V.slice(1, r, 2 * r).t(), b_sw = d.U.slice(1, 0, r);  // roles swapped: same
        CHECK(step_mismatch(g, a_sw, b_sw) == doctest::Approx(tail).epsilon(1e-4));
        const Tensor a_same = d.V.slice(1, 0, r).t(), b_same = d.U.slice(1, 0, r);  // double counts: ||G||
        CHECK(step_mismatch(g, a_same, b_same) == doctest::Approx(std::sqrt(sum(square(g)).item())).epsilon(1e-4));
        for (uint64_t seed = 0; seed < 20; ++seed) {  // random orthonormal factors are worse
            const Tensor qa = svd(Tensor::normal({n, r}, gen)).U, qb = svd(Tensor::normal({m, r}, gen)).U;
            CHECK(step_mismatch(g, qa.t(), qb) > tail);
        }
        Generator g2(1);
        nn::Linear plain(n, r, g2, false);  // vanilla LoRA: Kaiming A, zero B
        CHECK(step_mismatch(g, plain.weight(), Tensor::zeros({m, r})) > tail);
    }

    // SPEC 2.f.2: one plain SGD step on (A, B) moves W by -eta G up to the tail, as eta -> 0
    const float eta = 1e-3f;
    optim::Sgd opt(lora.parameters(), optim::SgdOptions{eta});
    Tensor loss = mul(mean(sum(square(sub(layer.forward(x), y)), {1})), 0.5f);
    loss.backward();
    opt.step();
    NoGradGuard ng;
    const Tensor dw = sub(matmul(lora.B(), lora.A()), matmul(b0, a0));
    const double err = std::sqrt(sum(square(add(dw, mul(g, eta)))).item()) / eta;
    CHECK(err == doctest::Approx(tail).epsilon(0.02));
    MESSAGE("first-step mismatch / eta = " << err << ", sqrt(sum_{i>2r} s_i^2) = " << tail);
}

TEST_CASE("LoRA+: two groups with ratio lambda; lambda = 1 reproduces vanilla LoRA bit for bit (SPEC 3.f.1, 3.f.3)") {
    auto train = [](bool plus, float ratio) {
        Generator gen(31);
        nn::MLP net(4, {16, 16}, 2, gen);
        nn::LoRATargets t;
        t.targets = {"re:.*"};
        LoRAConfig c;
        c.rank = 2;
        nn::LoRAModel lm(net, t, c, gen);
        for (auto& [name, a] : lm.adapters()) a->B().copy_(rand_tensor(a->B().shape(), 2));
        std::unique_ptr<optim::Adam> opt;
        if (plus) {
            auto groups = lm.lora_plus_groups(1e-2f, ratio);
            CHECK(groups.size() == 2);
            CHECK(groups[1].lr == doctest::Approx(groups[0].lr * ratio));
            opt = std::make_unique<optim::Adam>(groups);
        } else {
            opt = std::make_unique<optim::Adam>(lm.parameters(), optim::AdamOptions{1e-2f});
        }
        const Tensor x = rand_tensor({8, 4}, 3), y = rand_tensor({8, 2}, 4);
        for (int i = 0; i < 5; ++i) {
            opt->zero_grad();
            sum(square(sub(net.forward(x), y))).backward();
            opt->step();
        }
        std::vector<float> out;
        for (const Tensor& p : lm.parameters())
            for (float v : p.to_vector()) out.push_back(v);
        return out;
    };
    CHECK(train(true, 1.f) == train(false, 1.f));
    CHECK(train(true, 16.f) != train(false, 1.f));
}

TEST_CASE("LoRA+ gradient-norm ratio at the stable scales is about n / sqrt(m r) (SPEC 3.f.2)") {
    const int64_t n = 512, m = 512, r = 8, batch = 64;
    Generator gen(41);
    Tensor a = Tensor::normal({r, n}, gen, 0.f, 1.f / std::sqrt(float(n)));
    Tensor b = Tensor::normal({m, r}, gen, 0.f, 1.f / std::sqrt(float(r)));
    a.requires_grad_();
    b.requires_grad_();
    const Tensor x = Tensor::normal({batch, n}, gen), gy = Tensor::normal({batch, m}, gen);
    const Tensor y = matmul(matmul(x, a.t()), b.t());  // y = B A x per row
    const auto g = grad({sum(mul(y, gy))}, {a, b});
    const double ratio = sum(abs(g[0])).item() / sum(abs(g[1])).item();
    CHECK(ratio == doctest::Approx(n / std::sqrt(double(m * r))).epsilon(0.1));
}

TEST_CASE("target regexes are bounded before std::regex sees them") {
    // accepted: ordinary patterns, small repeat counts, a one-digit backreference, escaped braces
    CHECK(nn::lora_target_matches("re:net\\.[0-9]{1,3}", "net.12"));
    CHECK(nn::lora_target_matches("re:(a)\\1\\.b", "aa.b"));
    CHECK(nn::lora_target_matches("re:x\\{99999\\}", "x{99999}"));
    CHECK(nn::lora_target_matches("re:.*attn\\.(qkv|out)", "blocks.0.attn.qkv"));
    CHECK(nn::lora_target_matches("re:.*?\\.[a-z]+_proj", "layers.1.q_proj"));
    CHECK(nn::lora_target_matches("re:(net\\.[0-9])", "net.4"));
    // rejected with rflow::Error naming the pattern: long numbers (libstdc++ overflows a long on
    // 20 digits, found by fuzz_lora), repeat counts whose product explodes, length, invalid syntax
    const std::vector<std::string> bad = {"net\\6666666666666666666", "a{99999}", "a{1,66666666666666666666}",
                                          "((a{100}){100})", "(", std::string(1025, 'a'),
                                          // nested repetition: exponential backtracking (fuzz_lora)
                                          "^.n*****************one", "(a*)*b", "(a|b)+", "a+{2}"};
    for (const std::string& p : bad) {
        CAPTURE(p);
        CHECK_THROWS_AS(nn::compile_lora_target_regex(p), Error);
        CHECK_THROWS_WITH_AS(nn::lora_target_matches("re:" + p, "net.0"), doctest::Contains("LoRA target regex"), Error);
    }
}

TEST_CASE("targets: suffix names, regular expressions, per-module rank and alpha, clear errors") {
    CHECK(nn::lora_target_matches("qkv", "blocks.0.attn.qkv"));
    CHECK_FALSE(nn::lora_target_matches("kv", "blocks.0.attn.qkv"));
    CHECK(nn::lora_target_matches("re:.*attn\\.(qkv|out)", "mid_attn.attn.out"));
    Generator gen(51);
    nn::MLP net(4, {8, 8}, 2, gen);
    std::vector<std::string> linear_names;
    for (auto& [name, mod] : net.named_modules())
        if (dynamic_cast<nn::Linear*>(mod)) linear_names.push_back(name);
    REQUIRE(linear_names.size() == 3);
    nn::LoRATargets t;
    t.targets = {linear_names[0], linear_names[2]};
    t.rank_pattern[linear_names[2]] = 1;
    t.alpha_pattern[linear_names[2]] = 4.f;
    LoRAConfig c;
    c.rank = 2;
    nn::LoRAModel lm(net, t, c, gen);
    REQUIRE(lm.adapters().size() == 2);
    CHECK(lm.adapters()[1].second->config().rank == 1);
    CHECK(lm.adapters()[1].second->scaling() == doctest::Approx(4.f));
    // PEFT key names in the model's state dict; only adapter tensors require grad
    bool found = false;
    for (const auto& [name, tensor] : net.named_parameters()) {
        if (name == linear_names[0] + ".lora_A.weight") found = true;
        CHECK(tensor.requires_grad() == (name.find("lora_") != std::string::npos));
    }
    CHECK(found);
    t.targets = {"nothing"};
    Generator g2(1);
    nn::MLP other(4, {8}, 2, g2);
    CHECK_THROWS_WITH_AS(nn::LoRAModel(other, t, c, g2), doctest::Contains("nothing"), Error);
    LoRAConfig bad;
    bad.rank = 9;
    nn::Linear small(4, 8, g2);
    CHECK_THROWS_AS(LoRA(small, bad, g2), Error);
    bad.rank = 2;
    bad.init = "olora";
    CHECK_THROWS_WITH_AS(LoRA(small, bad, g2), doctest::Contains("olora"), Error);
}

TEST_CASE("LoRA on Conv2d: inits keep the output, gradients, exact unmerge, PEFT export") {
    const Tensor x = rand_tensor({2, 3, 6, 6}, 91);
    for (const char* init : {"default", "pissa", "lora-ga"}) {
        CAPTURE(init);
        Generator gen(92);
        nn::Conv2d conv(3, 8, 3, gen, 1, 1);
        const Tensor w0 = conv.weight().clone();
        Tensor before;
        {
            NoGradGuard ng;
            before = conv.forward(x);
        }
        nn::LoRAConfig c;
        c.rank = 2;
        c.init = init;
        nn::LoRA lora(conv, c, gen);
        CHECK(lora.A().shape() == Shape{2, 3, 3, 3});
        CHECK(lora.B().shape() == Shape{8, 2, 1, 1});
        if (std::string(init) == "lora-ga") lora.init_lora_ga(rand_tensor({8, 3, 3, 3}, 93));
        {
            NoGradGuard ng;
            CHECK(max_abs_diff(conv.forward(x), before) < 1e-5);
        }
        lora.B().copy_(add(lora.B(), rand_tensor({8, 2, 1, 1}, 94, -0.3f, 0.3f)));
        NoGradGuard ng;
        const Tensor adapted = conv.forward(x);
        const Tensor corrected = conv.weight().clone();
        lora.merge();
        CHECK(max_abs_diff(conv.forward(x), adapted) < 1e-5);
        lora.unmerge();
        CHECK(max_abs_diff(conv.weight(), corrected) == 0.0);
        if (std::string(init) == "default") CHECK(max_abs_diff(corrected, w0) == 0.0);  // default leaves W0 alone
    }
    Generator gen(95);
    nn::Conv2d conv(2, 4, 3, gen, 1, 1);
    nn::LoRAConfig c;
    c.rank = 2;
    nn::LoRA lora(conv, c, gen);
    lora.B().copy_(rand_tensor({4, 2, 1, 1}, 96));
    V inputs{rand_tensor({1, 2, 4, 4}, 97), lora.A(), lora.B()};
    auto r = check_grad([&](const V& in) { return conv.forward(in[0]); }, inputs, 1e-2f);
    CHECK_MESSAGE(r.ok, r.report);
    c.dora = true;
    nn::Conv2d other(2, 4, 3, gen, 1, 1);
    CHECK_THROWS_WITH_AS(nn::LoRA(other, c, gen), doctest::Contains("DoRA"), Error);
}

TEST_CASE("LoRAModel::init_lora_ga streams micro-batches to the averaged gradient and keeps the output") {
    auto build = [](Generator& gen) { return std::make_unique<nn::MLP>(8, std::vector<int64_t>{12, 12}, 8, gen); };
    Generator g1(111), g2(111);
    auto net1 = build(g1), net2 = build(g2);
    nn::LoRATargets t;
    t.targets = {"re:.*"};
    nn::LoRAConfig c;
    c.rank = 2;
    const Tensor x = rand_tensor({10, 8}, 112), y = rand_tensor({10, 8}, 113);
    auto fixed_loss = [&](nn::Module& net) { return mean(square(sub(net.forward(x), y))); };
    Tensor before;
    {
        NoGradGuard ng;
        before = net1->forward(x);
    }
    nn::LoRAModel streamed(*net1, t, c, g1);
    // every micro-batch sees the same fixed loss, so the average is that loss's gradient
    streamed.init_lora_ga([&](int64_t, Generator&) { return fixed_loss(*net1); }, 100, 0, 32);
    nn::LoRAModel direct(*net2, t, c, g2);
    for (auto& [name, a] : direct.adapters()) {
        Tensor w = a->base_weight();
        w.requires_grad_(true);
        const Tensor gw = grad({fixed_loss(*net2)}, {w})[0];
        w.requires_grad_(false);
        a->init_lora_ga(gw);
    }
    for (size_t i = 0; i < streamed.adapters().size(); ++i)
        CHECK(max_abs_diff(streamed.adapters()[i].second->A(), direct.adapters()[i].second->A()) < 1e-4);
    NoGradGuard ng;
    CHECK(max_abs_diff(net1->forward(x), before) < 1e-5);
}

TEST_CASE("split_lora_targets_by_width: layers narrower than the rank are set apart by full name") {
    Generator gen(52);
    nn::MLP net(4, {8, 8}, 2, gen);  // Linear 4 -> 8, 8 -> 8, 8 -> 2
    std::vector<std::string> linear_names;
    for (auto& [name, mod] : net.named_modules())
        if (dynamic_cast<nn::Linear*>(mod)) linear_names.push_back(name);
    REQUIRE(linear_names.size() == 3);
    nn::LoRATargets all;
    all.targets = {"re:.*"};
    const nn::LoRAWidthSplit r4 = nn::split_lora_targets_by_width(net, all, 4);
    CHECK(r4.fit == std::vector<std::string>{linear_names[0], linear_names[1]});
    CHECK(r4.narrow == std::vector<std::string>{linear_names[2]});
    const nn::LoRAWidthSplit r2 = nn::split_lora_targets_by_width(net, all, 2);
    CHECK(r2.fit.size() == 3);
    CHECK(r2.narrow.empty());
    const nn::LoRAWidthSplit r9 = nn::split_lora_targets_by_width(net, all, 9);
    CHECK(r9.fit.empty());
    CHECK(r9.narrow.size() == 3);
    // the fitting names, as targets, adapt exactly those layers at that rank
    nn::LoRATargets fit;
    fit.targets = r4.fit;
    LoRAConfig c;
    c.rank = 4;
    nn::LoRAModel lm(net, fit, c, gen);
    CHECK(lm.adapters().size() == 2);
}
