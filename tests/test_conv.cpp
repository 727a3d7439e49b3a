// Image ops and layers: conv2d against a direct convolution, conv_transpose2d / conv2d_weight as
// exact adjoints, first- and second-order gradient checks, resampling, group norm, dropout
// statistics and reproducibility, thread-count independence, and the errors on bad shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "gradcheck.hpp"
#include "op_cases.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::check_grad2;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;
using rflow::testing::ConvCase;
using rflow::testing::conv_cases;
using rflow::testing::describe;
using rflow::testing::image_op_cases;
using rflow::testing::OpCase;
using V = std::vector<Tensor>;

namespace {

// The definition, loop by loop: y[n,o,i,j] = b[o] + sum w[o,c,a,e] x[n, g Cg + c, i sh - ph + a dh, j sw - pw + e dw]
std::vector<float> direct_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b) {
    const auto xv = x.to_vector(), wv = w.to_vector();
    const auto bv = b.defined() ? b.to_vector() : std::vector<float>(c.cout, 0.f);
    const int64_t cg = c.cin / c.groups, og = c.cout / c.groups, ho = c.ho(), wo = c.wo();
    std::vector<float> y(c.n * c.cout * ho * wo);
    for (int64_t n = 0; n < c.n; ++n)
        for (int64_t o = 0; o < c.cout; ++o)
            for (int64_t i = 0; i < ho; ++i)
                for (int64_t j = 0; j < wo; ++j) {
                    double acc = bv[o];
                    const int64_t g = o / og;
                    for (int64_t ci = 0; ci < cg; ++ci)
                        for (int64_t a = 0; a < c.kh; ++a)
                            for (int64_t e = 0; e < c.kw; ++e) {
                                const int64_t ih = i * c.sh - c.ph + a * c.dh, iw = j * c.sw - c.pw + e * c.dw;
                                if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) continue;
                                acc += double(wv[((o * cg + ci) * c.kh + a) * c.kw + e]) *
                                       xv[((n * c.cin + g * cg + ci) * c.h + ih) * c.w + iw];
                            }
                    y[((n * c.cout + o) * ho + i) * wo + j] = float(acc);
                }
    return y;
}

double dot(const Tensor& a, const Tensor& b) {
    const auto va = a.to_vector(), vb = b.to_vector();
    REQUIRE(va.size() == vb.size());
    double s = 0;
    for (size_t i = 0; i < va.size(); ++i) s += double(va[i]) * vb[i];
    return s;
}

// Finite differences of L = sum(wt * m.forward(x)) against autograd, for x and every parameter.
// `reset` runs before each forward (e.g. to replay a dropout mask).
void check_layer(nn::Module& m, Tensor x, const std::function<void()>& reset = {}) {
    x = x.detach().clone();
    x.requires_grad_(true);
    if (reset) reset();
    Tensor y = m.forward(x);
    Tensor wt = rand_tensor(y.shape(), 999, 0.5f, 1.5f);
    m.zero_grad();
    sum(mul(y, wt)).backward();
    auto loss = [&] {
        NoGradGuard ng;
        if (reset) reset();
        return double(sum(mul(m.forward(x), wt)).item());
    };
    nn::NamedTensors all = m.named_parameters();
    all.emplace_back("input", x);
    for (auto& [name, p] : all) {
        CAPTURE(name);
        REQUIRE(p.grad().defined());
        const auto ga = p.grad().to_vector();
        float* d = p.data();
        const float eps = 1e-2f;  // conv layers are linear in each input; float sums need the wide step
        for (int64_t i = 0; i < p.numel(); ++i) {
            const float saved = d[i];
            d[i] = saved + eps;
            const double up = loss();
            d[i] = saved - eps;
            const double down = loss();
            d[i] = saved;
            const double numeric = (up - down) / (2 * eps);
            CAPTURE(i);
            CHECK(std::fabs(numeric - ga[i]) <= 2e-3 + 2e-2 * std::fabs(numeric));
        }
    }
}

}  // namespace

TEST_CASE("conv2d matches a direct convolution for many geometries") {
    for (const ConvCase& c : conv_cases()) {
        CAPTURE(describe(c));
        Tensor x = rand_tensor(c.x_shape(), 1), w = rand_tensor(c.w_shape(), 2), b = rand_tensor({c.cout}, 3);
        Tensor y = conv2d(x, w, b, c.stride(), c.padding(), c.dilation(), c.groups);
        REQUIRE(y.shape() == c.y_shape());
        CHECK(max_abs_diff(y, Tensor::from_vector(direct_conv(c, x, w, b), c.y_shape())) < 2e-5);
        Tensor y0 = conv2d(x, w, Tensor(), c.stride(), c.padding(), c.dilation(), c.groups);
        CHECK(max_abs_diff(y0, Tensor::from_vector(direct_conv(c, x, w, Tensor()), c.y_shape())) < 2e-5);
    }
}

TEST_CASE("conv2d reads strided inputs and unbatched [C, H, W] images") {
    ConvCase c{2, 3, 4, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    Tensor x = rand_tensor(c.x_shape(), 4), w = rand_tensor(c.w_shape(), 5);
    Tensor xt = x.transpose(2, 3).contiguous().transpose(2, 3);  // same values, non-contiguous
    CHECK_FALSE(xt.is_contiguous());
    CHECK(max_abs_diff(conv2d(xt, w, Tensor(), 1, 1), conv2d(x, w, Tensor(), 1, 1)) == 0.0);
    Tensor one = conv2d(x.slice(0, 1, 2).squeeze(0), w, Tensor(), 1, 1);
    CHECK(one.shape() == Shape{4, 5, 6});
    // One image is a GEMM of a different width than the batch of two, and OpenBLAS's
    // sgemm kernels may round such shapes differently in the last bit (AMD EPYC); only
    // thread-count invariance (a fixed shape cut the same way) is promised bit for bit.
    CHECK(max_abs_diff(one, conv2d(x, w, Tensor(), 1, 1).slice(0, 1, 2).squeeze(0)) < 1e-6);
}

TEST_CASE("conv_transpose2d and conv2d_weight are the exact adjoints of conv2d") {
    for (const ConvCase& c : conv_cases()) {
        CAPTURE(describe(c));
        Tensor x = rand_tensor(c.x_shape(), 6), w = rand_tensor(c.w_shape(), 7), y = rand_tensor(c.y_shape(), 8);
        const Int2 op = c.output_padding();
        Tensor xt = conv_transpose2d(y, w, Tensor(), c.stride(), c.padding(), op, c.dilation(), c.groups);
        REQUIRE(xt.shape() == c.x_shape());
        const double lhs = dot(conv2d(x, w, Tensor(), c.stride(), c.padding(), c.dilation(), c.groups), y);
        CHECK(dot(x, xt) == doctest::Approx(lhs).epsilon(1e-4));
        Tensor xi = conv2d_input(y, w, c.x_shape(), c.stride(), c.padding(), c.dilation(), c.groups);
        CHECK(max_abs_diff(xi, xt) == 0.0);
        Tensor dw = conv2d_weight(x, y, c.w_shape(), c.stride(), c.padding(), c.dilation(), c.groups);
        REQUIRE(dw.shape() == c.w_shape());
        CHECK(dot(w, dw) == doctest::Approx(lhs).epsilon(1e-4));
    }
}

TEST_CASE("conv_transpose2d: known values, bias and output sizes") {
    // a 1x1 input up-sampled by a 2x2 kernel with stride 2 places the kernel, scaled
    Tensor x = Tensor::from_vector({2.f}, {1, 1, 1, 1});
    Tensor w = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
    CHECK(conv_transpose2d(x, w, Tensor(), 2).to_vector() == std::vector<float>{2, 4, 6, 8});
    // stride 2: each input pixel adds its own copy of the kernel, overlaps summed
    Tensor x2 = Tensor::from_vector({1, 10}, {1, 1, 1, 2});
    Tensor w2 = Tensor::from_vector({1, 2, 3}, {1, 1, 1, 3});
    CHECK(conv_transpose2d(x2, w2, Tensor(), {1, 2}).to_vector() == std::vector<float>{1, 2, 13, 20, 30});
    Tensor y = rand_tensor({2, 4, 3, 3}, 9), wt = rand_tensor({4, 3, 3, 3}, 10), b = rand_tensor({3}, 11);
    Tensor up = conv_transpose2d(y, wt, b, 2, 1, 1);
    CHECK(up.shape() == Shape{2, 3, 6, 6});
    CHECK(max_abs_diff(sub(up, conv_transpose2d(y, wt, Tensor(), 2, 1, 1)), b.reshape({3, 1, 1}).expand(up.shape())) < 1e-6);
    CHECK(conv_transpose2d(y, rand_tensor({4, 1, 3, 3}, 12), Tensor(), 1, 1, 0, 1, 2).shape() == Shape{2, 2, 3, 3});
}

TEST_CASE("upsample_nearest2d and avg_pool2d: known values") {
    Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
    CHECK(upsample_nearest2d(x, 2).to_vector() ==
          std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
    CHECK(upsample_nearest2d(x, {1, 3}).to_vector() == std::vector<float>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});
    Tensor img = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
                                     {1, 1, 4, 5});
    CHECK(avg_pool2d(img, 2).to_vector() == std::vector<float>{4, 6, 14, 16});  // last column dropped
    CHECK(max_abs_diff(avg_pool2d(img, 3, 1), Tensor::from_vector({7, 8, 9, 12, 13, 14}, {1, 1, 2, 3})) < 1e-5);
    CHECK(avg_pool2d(img, {2, 1}, {2, 1}).to_vector() == std::vector<float>{3.5f, 4.5f, 5.5f, 6.5f, 7.5f, 13.5f,
                                                                            14.5f, 15.5f, 16.5f, 17.5f});
    Tensor r = rand_tensor({2, 3, 6, 4}, 13);
    CHECK(max_abs_diff(avg_pool2d(upsample_nearest2d(r, 3), 3), r) < 1e-6);
}

TEST_CASE("group_norm matches its definition and reduces to instance and layer norm") {
    Tensor x = rand_tensor({2, 6, 3, 4}, 14, -2.f, 3.f), w = rand_tensor({6}, 15), b = rand_tensor({6}, 16);
    Tensor y = group_norm(x, 3, w, b, 1e-5f);
    const auto xv = x.to_vector(), yv = y.to_vector(), wv = w.to_vector(), bv = b.to_vector();
    double worst = 0;
    for (int n = 0; n < 2; ++n)
        for (int g = 0; g < 3; ++g) {
            const int base = (n * 6 + g * 2) * 12;
            double mu = 0, var = 0;
            for (int i = 0; i < 24; ++i) mu += xv[base + i];
            mu /= 24;
            for (int i = 0; i < 24; ++i) var += (xv[base + i] - mu) * (xv[base + i] - mu);
            var /= 24;
            for (int i = 0; i < 24; ++i) {
                const int c = g * 2 + i / 12;
                const double ref = (xv[base + i] - mu) / std::sqrt(var + 1e-5) * wv[c] + bv[c];
                worst = std::max(worst, std::fabs(ref - yv[base + i]));
            }
        }
    CHECK(worst < 1e-5);
    Tensor ln = layer_norm(x.reshape({2, 72})).reshape(x.shape());
    CHECK(max_abs_diff(group_norm(x, 1), ln) < 1e-5);
    Tensor in = layer_norm(x.reshape({2, 6, 12})).reshape(x.shape());
    CHECK(max_abs_diff(group_norm(x, 6), in) < 1e-5);
    CHECK(group_norm(rand_tensor({3, 4}, 17), 2).shape() == Shape{3, 4});  // [N, C] works too
    CHECK(max_abs_diff(group_norm(x, 3, Tensor(), b), add(group_norm(x, 3), b.reshape({6, 1, 1}))) < 1e-6);
}

TEST_CASE("group_norm: the fused first-order backward equals the differentiable one") {
    for (bool affine : {true, false}) {
        Tensor x = rand_tensor({3, 6, 4, 5}, 18, -2.f, 3.f), w = rand_tensor({6}, 19), b = rand_tensor({6}, 20);
        V vars{x, w, b};
        for (Tensor& t : vars) t.requires_grad_(true);
        auto f = [&] { return sum(mul(group_norm(x, 3, affine ? w : Tensor(), b), rand_tensor(x.shape(), 21))); };
        const V fused = grad({f()}, vars, {}, false, true), ops = grad({f()}, vars, {}, true, true);
        for (size_t i = 0; i < vars.size(); ++i) CHECK(max_abs_diff(fused[i], ops[i]) < 1e-5);
    }
}


TEST_CASE("group_norm_silu: silu(group_norm) in values and gradients, fused or differentiable") {
    for (bool affine : {true, false}) {
        CAPTURE(affine);
        Tensor x = rand_tensor({3, 6, 4, 5}, 22, -2.f, 3.f), w = rand_tensor({6}, 23), b = rand_tensor({6}, 24);
        V vars{x, w, b};
        for (Tensor& t : vars) t.requires_grad_(true);
        const Tensor weight = affine ? w : Tensor(), seed = rand_tensor(x.shape(), 25);
        auto fused = [&] { return sum(mul(group_norm_silu(x, 3, weight, b), seed)); };
        auto composed = [&] { return sum(mul(silu(group_norm(x, 3, weight, b)), seed)); };
        CHECK(max_abs_diff(group_norm_silu(x, 3, weight, b), silu(group_norm(x, 3, weight, b))) < 1e-6);
        const V want = grad({composed()}, vars, {}, false, true);
        for (bool differentiable : {false, true}) {
            CAPTURE(differentiable);
            const V got = grad({fused()}, vars, {}, differentiable, true);
            for (size_t i = 0; i < vars.size(); ++i) {
                if (!affine && i == 1) continue;  // w unused
                CHECK(max_abs_diff(got[i], want[i]) < 1e-5);
            }
        }
    }
}

TEST_CASE("every image op matches central differences (first order)") {
    for (const OpCase& c : image_op_cases()) {
        CAPTURE(c.name);
        auto res = check_grad(c.f, c.inputs, 1e-2f);  // conv maps are linear in each input: exact steps
        INFO(res.report);
        CHECK(res.ok);
    }
}

TEST_CASE("second order: conv2d, conv_transpose2d, group_norm, avg_pool2d, upsample and a critic") {
    int checked = 0;
    for (const OpCase& c : image_op_cases()) {
        if (!c.second_order) continue;
        CAPTURE(c.name);
        auto res = check_grad2(c.f, c.inputs, 1e-2f);
        INFO(res.report);
        CHECK(res.ok);
        ++checked;
    }
    CHECK(checked >= 10);
}

TEST_CASE("layers match central differences in their inputs and parameters") {
    Generator gen(7);
    nn::Conv2d conv(4, 4, 3, gen, 2, 1, 1, 2);
    check_layer(conv, rand_tensor({2, 4, 5, 5}, 70));
    nn::Conv2d pointwise(3, 2, 1, gen);
    check_layer(pointwise, rand_tensor({2, 3, 3, 4}, 71));
    nn::ConvTranspose2d up(2, 3, 4, gen, 2, 1);
    check_layer(up, rand_tensor({2, 2, 3, 3}, 72));
    nn::GroupNorm gn(2, 4);
    {
        NoGradGuard ng;  // move the affine parameters off their (1, 0) start
        gn.weight().copy_(rand_tensor({4}, 73, 0.5f, 1.5f));
        gn.bias().copy_(rand_tensor({4}, 74));
    }
    check_layer(gn, rand_tensor({2, 4, 3, 3}, 75, -2.f, 2.f));
    nn::Upsample ups(2);
    check_layer(ups, rand_tensor({1, 2, 2, 3}, 76));
    nn::AvgPool2d pool(2);
    check_layer(pool, rand_tensor({1, 2, 4, 5}, 77));
    nn::Dropout drop(0.3f, 11);
    const auto state = drop.generator().state();
    check_layer(drop, rand_tensor({2, 3, 4}, 78), [&] { drop.generator().set_state(state); });
}

TEST_CASE("layers: PyTorch layouts, default init bounds and names") {
    Generator gen(3);
    nn::Conv2d conv(6, 8, {3, 5}, gen, 1, {1, 2}, 1, 2);
    CHECK(conv.weight().shape() == Shape{8, 3, 3, 5});
    const float bound = 1.f / std::sqrt(3.f * 15.f);  // kaiming_uniform(a = sqrt 5) = U(+-1/sqrt(fan_in))
    for (Tensor* t : {&conv.weight(), &conv.bias()}) {
        auto v = t->to_vector();
        float m = 0;
        for (float f : v) m = std::max(m, std::fabs(f));
        CHECK(m <= bound);
        CHECK(m > 0.7f * bound);
    }
    CHECK(conv.state_dict().size() == 2);
    CHECK(conv.named_parameters()[0].first == "weight");
    CHECK(conv.forward(rand_tensor({2, 6, 7, 9}, 1)).shape() == Shape{2, 8, 7, 9});
    nn::Conv2d nobias(2, 2, 1, gen, 1, 0, 1, 1, false);
    CHECK_FALSE(nobias.bias().defined());
    CHECK(nobias.num_parameters() == 4);
    nn::ConvTranspose2d convt(4, 6, 2, gen, 2, 0, 0, 1, 2);
    CHECK(convt.weight().shape() == Shape{4, 3, 2, 2});
    CHECK(convt.forward(rand_tensor({1, 4, 3, 3}, 2)).shape() == Shape{1, 6, 6, 6});
    nn::GroupNorm gn(2, 6);
    CHECK(gn.weight().to_vector() == std::vector<float>(6, 1.f));
    CHECK(gn.bias().to_vector() == std::vector<float>(6, 0.f));
    CHECK(nn::GroupNorm(3, 6, 1e-5f, false).num_parameters() == 0);
    CHECK(nn::Upsample(2).forward(rand_tensor({1, 1, 2, 3}, 3)).shape() == Shape{1, 1, 4, 6});
    CHECK(nn::AvgPool2d(2).forward(rand_tensor({1, 1, 4, 6}, 4)).shape() == Shape{1, 1, 2, 3});
}

TEST_CASE("dropout: statistics, reproducibility from the seed, identity in eval mode") {
    Tensor x = Tensor::ones({200000});
    Generator g(42);
    const float p = 0.3f;
    Tensor y = dropout(x, p, g);
    const auto v = y.to_vector();
    int64_t zeros = 0;
    double total = 0;
    for (float f : v) {
        if (f == 0.f) ++zeros;
        else CHECK_MESSAGE(std::fabs(f - 1.f / (1.f - p)) < 1e-6f, f);
        total += f;
    }
    CHECK(double(zeros) / v.size() == doctest::Approx(p).epsilon(0.02));  // sd 0.001
    CHECK(total / v.size() == doctest::Approx(1.0).epsilon(0.01));
    Generator g2(42);
    CHECK(max_abs_diff(dropout(x, p, g2), y) == 0.0);           // same seed, same mask
    CHECK(max_abs_diff(dropout(x, p, g2), y) > 0.0);            // the generator moved on
    CHECK(dropout(x, p, g, false).shares_storage(x));           // eval: the input itself
    CHECK(dropout(x, 0.f, g).shares_storage(x));
    CHECK(max_abs_diff(dropout(x, 1.f, g), Tensor::zeros({200000})) == 0.0);
    CHECK_THROWS_AS(dropout(x, 1.5f, g), Error);
    CHECK_THROWS_AS(dropout(x, -0.1f, g), Error);

    nn::Dropout a(0.5f, 9), b(0.5f, 9);
    Tensor img = rand_tensor({4, 3, 5, 5}, 1);
    CHECK(max_abs_diff(a.forward(img), b.forward(img)) == 0.0);
    CHECK(max_abs_diff(a.forward(img), a.forward(img)) > 0.0);
    a.eval();
    CHECK(max_abs_diff(a.forward(img), img) == 0.0);
    CHECK_THROWS_AS(nn::Dropout(1.2f), Error);
}

TEST_CASE("image ops give the same bits at any thread count") {
    const auto run = [](int threads, const ConvCase& c) {
        set_num_threads(threads);
        Tensor x = rand_tensor(c.x_shape(), 80), w = rand_tensor(c.w_shape(), 81), b = rand_tensor({c.cout}, 82);
        for (Tensor* t : {&x, &w, &b}) t->requires_grad_(true);
        Tensor y = conv2d(x, w, b, c.stride(), c.padding(), c.dilation(), c.groups);
        Tensor loss = sum(mul(group_norm(y, 2), rand_tensor(y.shape(), 83)));
        auto g = grad({loss}, {x, w, b});
        set_num_threads(0);
        std::vector<float> out = y.to_vector();
        for (const Tensor& t : g) {
            auto v = t.to_vector();
            out.insert(out.end(), v.begin(), v.end());
        }
        return out;
    };
    for (const ConvCase& c : {ConvCase{64, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1}, ConvCase{3, 16, 8, 20, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1},
                              ConvCase{33, 8, 16, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1, 1}, ConvCase{16, 16, 16, 7, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1},
                              ConvCase{1, 32, 32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1}, ConvCase{2, 32, 64, 14, 14, 1, 1, 1, 1, 0, 0, 1, 1, 1}}) {
        CAPTURE(describe(c));
        const auto one = run(1, c), two = run(2, c), three = run(3, c);
        CHECK(one == two);
        CHECK(one == three);
    }
}

TEST_CASE("image ops reject bad shapes with clear errors") {
    Tensor x = rand_tensor({2, 4, 6, 6}, 1);
    auto message = [](const std::function<void()>& f) {
        try {
            f();
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(message([&] { conv2d(x, rand_tensor({3, 3, 3, 3}, 2)); }).find("input channels") != std::string::npos);
    CHECK(message([&] { conv2d(x, rand_tensor({3, 2, 3, 3}, 2), Tensor(), 1, 0, 1, 2); }).find("divisible") != std::string::npos);
    CHECK(message([&] { conv2d(rand_tensor({2, 3, 6, 6}, 1), rand_tensor({4, 1, 3, 3}, 2), Tensor(), 1, 0, 1, 2); })
              .find("divisible") != std::string::npos);
    CHECK(message([&] { conv2d(x, rand_tensor({4, 4, 3, 3}, 2), rand_tensor({3}, 3)); }).find("bias") != std::string::npos);
    CHECK(message([&] { conv2d(x, rand_tensor({4, 4, 7, 3}, 2)); }).find("does not fit") != std::string::npos);
    CHECK(message([&] { conv2d(x, rand_tensor({4, 4, 3, 3}, 2), Tensor(), 0); }).find("stride") != std::string::npos);
    CHECK(message([&] { conv2d(x, rand_tensor({4, 4, 3}, 2)); }).find("4-D") != std::string::npos);
    CHECK(message([&] { conv2d(rand_tensor({4, 6}, 1), rand_tensor({4, 4, 3, 3}, 2)); }).find("[N, C, H, W]") != std::string::npos);
    CHECK(message([&] { conv_transpose2d(x, rand_tensor({4, 2, 3, 3}, 2), Tensor(), 2, 1, 2); }).find("output_padding") !=
          std::string::npos);
    CHECK(message([&] { conv_transpose2d(x, rand_tensor({3, 2, 3, 3}, 2)); }).find("input channels") != std::string::npos);
    CHECK(message([&] { conv2d_weight(x, rand_tensor({2, 4, 5, 5}, 2), {4, 4, 3, 3}); }).find("grad_y") != std::string::npos);
    CHECK(message([&] { group_norm(x, 3); }).find("divisible") != std::string::npos);
    CHECK(message([&] { group_norm(x, 2, rand_tensor({3}, 2)); }).find("weight") != std::string::npos);
    CHECK(message([&] { avg_pool2d(x, 7); }).find("larger") != std::string::npos);
    CHECK(message([&] { upsample_nearest2d(rand_tensor({4, 6, 6}, 1), 2); }).find("[N, C, H, W]") != std::string::npos);
    Generator gen(1);
    CHECK(message([&] { nn::Conv2d(4, 6, 3, gen, 1, 0, 1, 4); }).find("divisible") != std::string::npos);
    CHECK(message([&] { nn::GroupNorm(4, 6); }).find("divisible") != std::string::npos);
    nn::Conv2d conv(4, 8, 3, gen);
    CHECK(message([&] { conv.forward(rand_tensor({2, 3, 6, 6}, 1)); }).find("Conv2d(4 -> 8)") != std::string::npos);
}
