// DiT backbone: shapes for every attention kind with 2-D RoPE or sin-cos positions, adaLN-Zero's
// zero output at init, finite-difference gradients (input and parameters), class conditioning and
// the null label, LoRA targets, and a few flow-matching steps that lower the loss.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include <rflow/autograd.hpp>
#include <rflow/nn/dit.hpp>
#include <rflow/nn/lora.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/trainers/coupling.hpp>
#include <rflow/trainers/flow_matching.hpp>
#include <rflow/trainers/guidance.hpp>

#include "conditioning_check.hpp"
#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

namespace {

/// image 4x4, patch 2 (4 tokens), dim 8, one block, 2 heads of 4.
nn::DiTConfig tiny(const std::string& kind, const std::string& rope = "2d", int64_t classes = 0) {
    nn::DiTConfig c;
    c.image_size = 4;
    c.patch = 2;
    c.dim = 8;
    c.depth = 1;
    c.heads = 2;
    c.mlp_ratio = 2;
    c.num_classes = classes;
    c.attention = kind;
    c.rope = rope;
    if (kind == "gqa") c.kv_heads = 1;
    if (kind == "mla") {
        c.kv_latent = 4;
        c.rope_dim = rope == "none" ? 0 : 4;
    }
    return c;
}

/// A larger one for the shape tests: 8x8 images, 16 tokens, dim 16, 4 heads of 4, two blocks.
nn::DiTConfig small(const std::string& kind, const std::string& rope, int64_t channels = 2) {
    nn::DiTConfig c;
    c.in_channels = channels;
    c.image_size = 8;
    c.patch = 2;
    c.dim = 16;
    c.depth = 2;
    c.heads = 4;
    c.attention = kind;
    c.rope = rope;
    if (kind == "gqa") c.kv_heads = 2;
    if (kind == "mla") {
        c.kv_latent = 8;
        c.q_latent = 8;
        c.rope_dim = rope == "none" ? 0 : 4;
    }
    return c;
}

bool zero_initialised(const std::string& name) {
    return name.find(".ada.") != std::string::npos || name.rfind("final.linear.", 0) == 0;
}

// Gives the zero-initialised adaLN and output layers random weights, so outputs depend on inputs.
void randomise_zero_init(nn::DiT& net, uint64_t seed = 5) {
    NoGradGuard ng;
    for (auto& [name, p] : net.named_parameters())
        if (zero_initialised(name)) p.copy_(rand_tensor(p.shape(), seed++, -0.3f, 0.3f));
}

// Central differences of L = sum(w * f()) in every parameter of `net` against autograd.
rflow::testing::GradCheckResult check_param_grads(nn::Module& net, const std::function<Tensor()>& f,
                                                  float eps = 1e-2f, double atol = 5e-3, double rtol = 5e-2) {
    rflow::testing::GradCheckResult r;
    Tensor y = f();
    const Tensor w = rand_tensor(y.shape(), 321, 0.5f, 1.5f);
    net.zero_grad();
    sum(mul(y, w)).backward();
    auto objective = [&] {
        NoGradGuard ng;
        return double(sum(mul(f(), w)).item());
    };
    for (auto& [name, p] : net.named_parameters()) {
        const std::vector<float> g = p.grad().defined() ? p.grad().to_vector() : std::vector<float>(p.numel(), 0.f);
        float* data = p.data();
        for (int64_t i = 0; i < p.numel(); ++i) {
            const float saved = data[i];
            data[i] = saved + eps;
            const double up = objective();
            data[i] = saved - eps;
            const double down = objective();
            data[i] = saved;
            const double numeric = (up - down) / (2.0 * eps), err = std::fabs(numeric - g[i]);
            r.max_abs_err = std::max(r.max_abs_err, err);
            if (err > atol + rtol * std::fabs(numeric)) {
                if (r.ok) r.report = name + "[" + std::to_string(i) + "]: autograd " + std::to_string(g[i]) +
                                     " vs numeric " + std::to_string(numeric);
                r.ok = false;
            }
        }
    }
    return r;
}

}  // namespace

TEST_CASE("DiT: output shape for every attention kind, with 2-D RoPE and with sin-cos positions") {
    for (const std::string rope : {"2d", "none"})
        for (const std::string kind : {"mha", "gqa", "mqa", "mla"}) {
            CAPTURE(kind);
            CAPTURE(rope);
            Generator g(1);
            nn::DiT net(small(kind, rope), g);
            Tensor x = rand_tensor({3, 2, 8, 8}, 2), t = rand_tensor({3}, 3, 0.f, 1.f);
            Tensor y = net.forward(x, t);
            CHECK(y.shape() == x.shape());
            CHECK(max(abs(y)).item() == 0.f);  // adaLN-Zero and a zero final layer: v = 0 at init
            randomise_zero_init(net);
            Tensor y1 = net.forward(x, t);
            CHECK(max(abs(y1)).item() > 0.f);
            CHECK(std::isfinite(sum(y1).item()));
            // a second network with the same state dict computes the same function
            Generator g2(99);
            nn::DiT copy(small(kind, rope), g2);
            copy.load_state_dict(net.state_dict());
            CHECK(max_abs_diff(copy.forward(x, t), y1) == 0.0);
            // names the CLI's LoRA defaults reach
            bool has_attn = false, has_fc = false;
            for (auto& [name, p] : net.named_parameters()) {
                has_attn = has_attn || name.rfind("blocks.1.attn.", 0) == 0;
                has_fc = has_fc || name == "blocks.1.fc2.weight";
            }
            CHECK(has_attn);
            CHECK(has_fc);
            CHECK(net.attention_config().grid_width == (rope == "2d" ? 4 : 0));
        }
}

TEST_CASE("DiT: positions matter (tokens are not a bag) and outputs depend on t") {
    for (const std::string rope : {"2d", "none"}) {
        CAPTURE(rope);
        Generator g(2);
        nn::DiT net(small("mha", rope, 1), g);
        randomise_zero_init(net);
        NoGradGuard ng;
        // the same patch contents in another order: without positions the output would be permuted alike
        Tensor x = rand_tensor({1, 1, 8, 8}, 4), t = Tensor::full({1}, 0.3f);
        Tensor flipped = concat({x.slice(2, 4, 8), x.slice(2, 0, 4)}, 2);  // swap the halves (patch-aligned)
        Tensor y = net.forward(x, t), yf = net.forward(flipped, t);
        Tensor yf_back = concat({yf.slice(2, 4, 8), yf.slice(2, 0, 4)}, 2);
        CHECK(max_abs_diff(y, yf_back) > 1e-5);
        CHECK(max_abs_diff(y, net.forward(x, Tensor::full({1}, 0.7f))) > 1e-5);
    }
}

TEST_CASE("DiT: bad configs and inputs are errors naming the field") {
    Generator g(3);
    nn::DiTConfig c = tiny("mha");
    c.image_size = 5;
    CHECK_THROWS_WITH_AS(nn::DiT(c, g), doctest::Contains("not divisible by patch"), Error);
    c = tiny("mha");
    c.rope = "1d";
    CHECK_THROWS_WITH_AS(nn::DiT(c, g), doctest::Contains("rope"), Error);
    c = tiny("mha", "none");
    c.dim = 6;
    c.heads = 2;
    CHECK_THROWS_AS(nn::DiT(c, g), Error);
    c = tiny("nope");
    CHECK_THROWS_AS(nn::DiT(c, g), Error);
    nn::DiT net(tiny("mha"), g);
    CHECK_THROWS_AS(net.forward(rand_tensor({1, 1, 6, 6}, 1), rand_tensor({1}, 1)), Error);
    CHECK_THROWS_AS(net.forward(rand_tensor({2, 1, 4, 4}, 1), rand_tensor({1}, 1)), Error);
}

TEST_CASE("DiT: finite-difference gradients in the input and every parameter (mha, mla; RoPE and sin-cos)") {
    for (const std::string kind : {"mha", "mla"})
        for (const std::string rope : {"2d", "none"}) {
            CAPTURE(kind);
            CAPTURE(rope);
            Generator g(4);
            nn::DiT net(tiny(kind, rope), g);
            randomise_zero_init(net);
            Tensor t = Tensor::full({1}, 0.4f);
            auto in = check_grad([&](const V& v) { return net.forward(v[0], t); }, {rand_tensor({1, 1, 4, 4}, 8)}, 1e-2f,
                                 5e-3, 5e-2);
            INFO(in.report);
            CHECK(in.ok);
            Tensor x = rand_tensor({2, 1, 4, 4}, 9), t2 = rand_tensor({2}, 10, 0.f, 1.f);
            auto par = check_param_grads(net, [&] { return net.forward(x, t2); });
            INFO(par.report);
            CHECK(par.ok);
        }
}

TEST_CASE("DiT class conditioning: labels change the output, the null label is the unconditional model") {
    Generator g(5);
    nn::DiT net(tiny("gqa", "2d", 3), g);
    randomise_zero_init(net);
    rflow::testing::check_class_conditioning(net, rand_tensor({2, 1, 4, 4}, 10), rand_tensor({2}, 11, 0.f, 1.f));
}

TEST_CASE("DiT: LoRA reaches the attention and MLP projections") {
    Generator g(6);
    nn::DiTConfig c = tiny("mha");
    c.depth = 2;
    nn::DiT net(c, g);
    nn::LoRATargets targets;
    targets.targets = {"qkv", "out", "fc1", "fc2"};
    nn::LoRAConfig lc;
    lc.rank = 2;
    nn::LoRAModel lora(net, targets, lc, g);
    CHECK(lora.adapters().size() == 8);  // 4 per block
}

TEST_CASE("DiT: a few flow-matching steps on a tiny dataset lower the loss") {
    for (const std::string kind : {"mha", "mla"}) {
        CAPTURE(kind);
        Generator g(7);
        nn::DiTConfig c = tiny(kind);
        c.dim = 16;
        nn::DiT net(c, g);
        // two fixed 4x4 patterns: a bright left half and a bright top half
        std::vector<float> left(16, -1.f), top(16, -1.f);
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 2; ++j) left[i * 4 + j] = top[j * 4 + i] = 1.f;
        Tensor patterns = Tensor::from_vector([&] {
            std::vector<float> v(left);
            v.insert(v.end(), top.begin(), top.end());
            return v;
        }(), {2, 1, 4, 4});
        trainers::DataSource data = [patterns](int64_t n, Generator& gen) {
            std::vector<int64_t> idx(n);
            gen.randint(idx.data(), n, 0, 2);
            return index_select(patterns, 0, idx);
        };
        Generator eval(11);
        Tensor x1 = data(32, eval), x0 = Tensor::normal({32, 1, 4, 4}, eval), t = Tensor::uniform({32}, eval);
        const float before = trainers::flow_matching_loss(net, x0, x1, t).item();
        optim::AdamOptions ao;
        ao.lr = 1e-2f;
        optim::Adam opt(net.parameters(), ao);
        trainers::FlowMatchingConfig fc;
        fc.batch = 32;
        fc.steps = 60;
        trainers::FlowMatchingTrainer tr(net, opt, data, fc);
        tr.train();
        const float after = trainers::flow_matching_loss(net, x0, x1, t).item();
        CAPTURE(before);
        CAPTURE(after);
        CHECK(after < 0.8f * before);
    }
}
