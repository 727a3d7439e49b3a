// Image model pieces: U-Net shapes, gradients and class conditioning, classifier-free guidance,
// label dropout, attention, the classifier, and the Frechet distance.
#include <doctest/doctest.h>

#include <rflow/autograd.hpp>
#include <rflow/metrics.hpp>
#include <rflow/nn/attention.hpp>
#include <rflow/nn/classifier.hpp>
#include <rflow/nn/embedding.hpp>
#include <rflow/nn/unet.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/trainers/coupling.hpp>
#include <rflow/trainers/flow_matching.hpp>
#include <rflow/trainers/guidance.hpp>

#include "conditioning_check.hpp"
#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::check_grad2;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

namespace {

nn::UNetConfig tiny(int64_t classes) {
    nn::UNetConfig c;
    c.image_size = 8;
    c.base_channels = 8;
    c.channel_mults = {1, 2};
    c.res_blocks = 1;
    c.attention_levels = {1};
    c.heads = 2;
    c.groups = 4;
    c.dropout = 0.f;
    c.num_classes = classes;
    return c;
}

// Gives the zero-initialised output conv random weights, so outputs depend on the input.
void randomise_output(nn::UNet& net) {
    NoGradGuard ng;
    for (auto& [name, p] : net.named_parameters())
        if (name.rfind("conv_out", 0) == 0) p.copy_(rand_tensor(p.shape(), 5, -0.3f, 0.3f));
}

}  // namespace

TEST_CASE("multi-head attention: shapes, gradient and second-order checks, heads must divide dim") {
    Generator g(1);
    nn::AttentionConfig cfg;
    cfg.dim = 8;
    cfg.heads = 2;
    auto attn = nn::make_attention(cfg, g);
    rflow::testing::Fn f = [&](const V& x) { return attn->forward(x[0]); };
    CHECK(attn->forward(rand_tensor({2, 5, 8}, 2)).shape() == Shape{2, 5, 8});
    CHECK(check_grad(f, {rand_tensor({2, 3, 8}, 3)}).ok);
    CHECK(check_grad2(f, {rand_tensor({1, 3, 8}, 4)}).ok);
    cfg.dim = 10;
    cfg.heads = 3;
    CHECK_THROWS_AS(nn::make_attention(cfg, g), Error);
    nn::Embedding emb(5, 3, g);
    CHECK(emb.forward({4, 0, 4}).shape() == Shape{3, 3});
    CHECK_THROWS_WITH_AS(emb.forward({5}), doctest::Contains("index 5"), Error);
}

TEST_CASE("U-Net: output shape, zero output at init, input gradient check, bad shapes") {
    Generator g(2);
    nn::UNet net(tiny(0), g);
    Tensor x = rand_tensor({2, 1, 8, 8}, 6), t = rand_tensor({2}, 7, 0.f, 1.f);
    Tensor y = net.forward(x, t);
    CHECK(y.shape() == x.shape());
    CHECK(max(abs(y)).item() == 0.f);  // conv_out starts at zero: v = 0
    randomise_output(net);
    CHECK(max(abs(net.forward(x, t))).item() > 0.f);
    Tensor t1 = t.slice(0, 0, 1);
    auto res = check_grad([&](const V& in) { return net.forward(in[0], t1); }, {rand_tensor({1, 1, 8, 8}, 8)}, 1e-2f, 5e-3, 5e-2);
    INFO(res.report);
    CHECK(res.ok);
    CHECK_THROWS_AS(net.forward(rand_tensor({1, 1, 6, 6}, 9), rand_tensor({1}, 1)), Error);
    nn::UNetConfig odd = tiny(0);
    odd.image_size = 7;
    CHECK_THROWS_AS(nn::UNet(odd, g), Error);
}

TEST_CASE("class conditioning: labels change the output, the null label is the unconditional model") {
    Generator g(3);
    nn::UNet net(tiny(3), g);
    randomise_output(net);
    rflow::testing::check_class_conditioning(net, rand_tensor({2, 1, 8, 8}, 10), rand_tensor({2}, 11, 0.f, 1.f));
}

TEST_CASE("label dropout 1 trains only the null label's embedding") {
    Generator g(4);
    nn::UNet net(tiny(2), g);
    randomise_output(net);  // a zero output layer would pass no gradient to the embedding
    optim::Adam opt(net.parameters());
    trainers::FlowMatchingConfig cfg;
    cfg.batch = 4;
    cfg.steps = 1;
    cfg.label_dropout = 1.f;
    trainers::LabeledDataSource data = [](int64_t n, Generator& gen) {
        return std::make_pair(Tensor::normal({n, 1, 8, 8}, gen), std::vector<int64_t>(n, 1));
    };
    Tensor before = net.named_parameters()[0].second.detach().clone();
    Tensor emb_before;
    for (auto& [name, p] : net.named_parameters())
        if (name == "label_embed.weight") emb_before = p.detach().clone();
    REQUIRE(emb_before.defined());
    trainers::FlowMatchingTrainer tr(net, opt, trainers::labeled_coupling(data), cfg);
    tr.step();
    for (auto& [name, p] : net.named_parameters())
        if (name == "label_embed.weight") {
            CHECK(max_abs_diff(p.slice(0, 0, 2), emb_before.slice(0, 0, 2)) == 0.0);  // classes 0, 1 untouched
            CHECK(max_abs_diff(p.slice(0, 2, 3), emb_before.slice(0, 2, 3)) > 0.0);   // the null label trained
        }
}

TEST_CASE("classifier: shapes, features, gradient check; Frechet distance known answers") {
    Generator g(5);
    nn::ClassifierConfig cc;
    cc.image_size = 8;
    cc.width = 4;
    cc.features = 6;
    nn::Classifier clf(cc, g);
    Tensor x = rand_tensor({3, 1, 8, 8}, 12);
    CHECK(clf.forward(x).shape() == Shape{3, 10});
    CHECK(clf.features(x).shape() == Shape{3, 6});
    CHECK(check_grad([&](const V& in) { return clf.forward(in[0]); }, {rand_tensor({1, 1, 8, 8}, 13)}, 1e-2f, 5e-3, 5e-2).ok);
    // identical sets: 0; a shift by m in every coordinate: D m^2; scaled covariance: known trace term
    Generator a(6), b(7);
    Tensor f1 = Tensor::normal({4000, 3}, a);
    CHECK(frechet_distance(f1, f1) == doctest::Approx(0.0).epsilon(1e-6));
    CHECK(frechet_distance(f1, add(f1, 2.f)) == doctest::Approx(12.0).epsilon(1e-3));
    // N(0, I) vs N(0, 4 I) in 3-D: 3 (1 + 4 - 2 * 2) = 3
    CHECK(frechet_distance(Tensor::normal({20000, 3}, a), mul(Tensor::normal({20000, 3}, b), 2.f)) ==
          doctest::Approx(3.0).epsilon(0.05));
}
