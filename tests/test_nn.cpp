// Modules and layers: names and state dicts, gradient checks for every layer (first and second
// order for activations), initialiser statistics, losses (known values and gradients).
#include <doctest/doctest.h>

#include <cmath>

#include <rflow/loss.hpp>
#include <rflow/nn/activation.hpp>
#include <rflow/nn/init.hpp>
#include <rflow/nn/linear.hpp>
#include <rflow/nn/mlp.hpp>
#include <rflow/nn/time_embedding.hpp>
#include <rflow/nn/velocity_mlp.hpp>

#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::check_grad2;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

TEST_CASE("module tree: dotted names, state dict round trip, strict loading errors") {
    Generator g(1);
    nn::MLP mlp(3, {8, 8}, 2, g, "silu");
    auto named = mlp.named_parameters();
    REQUIRE(named.size() == 6);
    CHECK(named[0].first == "net.0.weight");
    CHECK(named[1].first == "net.0.bias");
    CHECK(named[4].first == "net.4.weight");
    CHECK(mlp.num_parameters() == 3 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2);
    Generator g2(2);
    nn::MLP other(3, {8, 8}, 2, g2, "silu");
    Tensor x = rand_tensor({4, 3}, 3);
    CHECK(rflow::testing::max_abs_diff(mlp.forward(x), other.forward(x)) > 1e-3);
    other.load_state_dict(mlp.state_dict());
    CHECK(rflow::testing::max_abs_diff(mlp.forward(x), other.forward(x)) == 0.0);
    auto sd = mlp.state_dict();
    sd.pop_back();
    CHECK_THROWS_WITH_AS(other.load_state_dict(sd), doctest::Contains("net.4.bias"), Error);
    sd = mlp.state_dict();
    sd[0].second = Tensor::zeros({1, 1});
    CHECK_THROWS_WITH_AS(other.load_state_dict(sd), doctest::Contains("net.0.weight"), Error);
    sd = mlp.state_dict();
    sd.emplace_back("extra", Tensor::zeros({1}));
    CHECK_THROWS_AS(other.load_state_dict(sd), Error);
    CHECK_NOTHROW(other.load_state_dict(sd, false));
}

TEST_CASE("initialisers have the documented spread") {
    Generator g(5);
    Tensor w = Tensor::empty({256, 512});
    nn::init::kaiming_normal_(w, g);
    const double std_expected = std::sqrt(2.0 / 512);
    CHECK(std::sqrt(mean(square(w)).item()) == doctest::Approx(std_expected).epsilon(0.02));
    nn::init::xavier_uniform_(w, g);
    const double bound = std::sqrt(6.0 / (512 + 256));
    CHECK(max(abs(w)).item() <= bound);
    CHECK(max(abs(w)).item() > 0.98 * bound);
    nn::init::kaiming_uniform_(w, g, std::sqrt(5.f));  // PyTorch Linear default: U(+-1/sqrt(fan_in))
    CHECK(max(abs(w)).item() <= 1.0 / std::sqrt(512.0) + 1e-6);
}

TEST_CASE("every registered activation: gradient and second-order checks") {
    for (const std::string& name : nn::activation_names()) {
        CAPTURE(name);
        auto act = nn::make_activation(name);
        rflow::testing::Fn f = [&](const V& x) { return act->forward(x[0]); };
        V in{rand_tensor({3, 4}, 7, -2.f, 2.f)};
        if (name == "relu") in = {add(abs(in[0]), 0.1f) * Tensor::from_vector({1, -1, 1, -1}, {4})};
        CHECK(check_grad(f, in).ok);
        CHECK(check_grad2(f, in).ok);
    }
    CHECK_THROWS_WITH_AS(nn::make_activation("swish2"), doctest::Contains("unknown activation"), Error);
}

TEST_CASE("layers: Linear, MLP, time embeddings, VelocityMLP pass gradient checks") {
    Generator g(9);
    auto lin = std::make_shared<nn::Linear>(3, 4, g);
    auto mlp = std::make_shared<nn::MLP>(3, std::vector<int64_t>{5}, 2, g, "tanh");
    nn::SinusoidalEmbedding sin_emb(6, 1.f);
    nn::FourierEmbedding four_emb(6, g, 1.f);
    // gradients with respect to the input and to each parameter
    for (auto* m : std::vector<nn::Module*>{lin.get(), mlp.get()}) {
        V in{rand_tensor({4, 3}, 11)};
        rflow::testing::Fn fx = [&](const V& x) { return m->forward(x[0]); };
        CHECK(check_grad(fx, in).ok);
        CHECK(check_grad2(fx, in).ok);
    }
    CHECK(check_grad([&](const V& x) { return sin_emb.forward(x[0]); }, {rand_tensor({5}, 12, 0.f, 1.f)}).ok);
    CHECK(check_grad([&](const V& x) { return four_emb.forward(x[0]); }, {rand_tensor({5}, 13, 0.f, 1.f)}).ok);
    nn::VelocityMLPConfig cfg;
    cfg.hidden = 8;
    cfg.depth = 2;
    for (std::string te : {"none", "sinusoidal", "fourier"}) {
        CAPTURE(te);
        cfg.time_embedding = te;
        cfg.embedding_dim = 4;
        nn::VelocityMLP v(cfg, g);
        auto out = v.forward(rand_tensor({3, 2}, 14), rand_tensor({3}, 15, 0.f, 1.f));
        CHECK(out.shape() == Shape{3, 2});
        // d/dt through a high-frequency embedding (scale 1000, sigma 16) is beyond float32
        // central differences; the embeddings' t-gradients are checked above at low frequency
        Tensor t = rand_tensor({3}, 17, 0.f, 1.f);
        if (te == "none")
            CHECK(check_grad([&](const V& x) { return v.forward(x[0], x[1]); }, {rand_tensor({3, 2}, 16), t}).ok);
        else
            CHECK(check_grad([&](const V& x) { return v.forward(x[0], t); }, {rand_tensor({3, 2}, 16)}).ok);
    }
}

TEST_CASE("parameter gradients of Linear match central differences") {
    Generator g(21);
    nn::Linear lin(3, 2, g);
    Tensor x = rand_tensor({5, 3}, 22);
    // treat the parameters as the inputs of a function linear(x, W, b)
    rflow::testing::Fn f = [&](const V& p) { return linear(x, p[0], p[1]); };
    CHECK(check_grad(f, {lin.weight().detach(), lin.bias().detach()}).ok);
    CHECK(check_grad2(f, {lin.weight().detach(), lin.bias().detach()}).ok);
    // backward() fills .grad of the module's parameters with the same values
    Tensor loss = sum(lin.forward(x));
    loss.backward();
    CHECK(rflow::testing::max_abs_diff(lin.bias().grad(), Tensor::full({2}, 5.f)) < 1e-6);
    CHECK(rflow::testing::max_abs_diff(lin.weight().grad(), sum(x, {0}).unsqueeze(0).expand({2, 3})) < 1e-5);
}

TEST_CASE("losses: known values and gradients") {
    Tensor p = Tensor::from_vector({1, 2, 3}, {3});
    Tensor t = Tensor::from_vector({1, 0, 0}, {3});
    CHECK(mse_loss(p, t).item() == doctest::Approx(13.0 / 3));
    CHECK(mse_loss(p, t, Reduction::sum).item() == doctest::Approx(13.0));
    CHECK_THROWS_AS(mse_loss(p, Tensor::zeros({2})), Error);
    // cross-entropy of uniform logits is log C; of a confident correct logit, ~0
    Tensor logits = Tensor::from_vector({0, 0, 0, 0, 10, -10, 0, 0}, {2, 4});
    Tensor ce = cross_entropy(logits, {2, 0}, Reduction::none);
    CHECK(ce.to_vector()[0] == doctest::Approx(std::log(4.0)));
    CHECK(ce.to_vector()[1] == doctest::Approx(std::log(1 + std::exp(-10.0) * 1 + 2 * std::exp(-10.0))).epsilon(1e-3));
    CHECK(cross_entropy(logits, {2, -100}).item() == doctest::Approx(std::log(4.0)));  // ignored row
    CHECK_THROWS_WITH_AS(cross_entropy(logits, {4, 0}), doctest::Contains("label 4"), Error);
    CHECK(check_grad([](const V& x) { return cross_entropy(x[0], {1, 3, 0}); }, {rand_tensor({3, 4}, 31, -2.f, 2.f)}).ok);
    CHECK(check_grad2([](const V& x) { return cross_entropy(x[0], {1, 3, 0}); }, {rand_tensor({3, 4}, 32, -2.f, 2.f)}).ok);
    CHECK(check_grad([](const V& x) { return cross_entropy(x[0], {1, 3, 0}, Reduction::mean, -100, 0.1f); },
                     {rand_tensor({3, 4}, 33, -2.f, 2.f)}).ok);
    CHECK(check_grad([](const V& x) { return mse_loss(x[0], x[1]); }, {rand_tensor({3, 2}, 34), rand_tensor({3, 2}, 35)}).ok);
}
