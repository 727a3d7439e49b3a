// Tensor semantics: creation, views sharing storage, broadcasting, known op values, autograd rules.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::rand_tensor;

static std::vector<float> vec(const Tensor& t) { return t.to_vector(); }

TEST_CASE("creation, shape and printing") {
    Tensor z = Tensor::zeros({2, 3});
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.numel() == 6);
    CHECK(z.is_contiguous());
    CHECK(z.strides() == std::vector<int64_t>{3, 1});
    CHECK(z.device() == Device::cpu);
    Tensor a = Tensor::arange(6).reshape({2, 3});
    CHECK(vec(a) == std::vector<float>{0, 1, 2, 3, 4, 5});
    CHECK(a.to_string().find("shape=[2, 3]") != std::string::npos);
    CHECK_THROWS_AS(Tensor::from_vector({1, 2, 3}, {2, 2}), Error);
    CHECK_THROWS_AS(a.reshape({4, 2}), Error);
    CHECK(Tensor::scalar(2.5f).item() == 2.5f);
}

TEST_CASE("views share storage; contiguous copies only when needed") {
    Tensor a = Tensor::arange(12).reshape({3, 4});
    Tensor t = a.t();
    CHECK(t.shares_storage(a));
    CHECK_FALSE(t.is_contiguous());
    CHECK(vec(t) == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    Tensor s = a.slice(1, 1, 3);
    CHECK(s.shares_storage(a));
    CHECK(vec(s) == std::vector<float>{1, 2, 5, 6, 9, 10});
    Tensor e = Tensor::arange(3).reshape({3, 1}).expand({3, 2});
    CHECK(e.strides()[1] == 0);
    CHECK(vec(e) == std::vector<float>{0, 0, 1, 1, 2, 2});
    Tensor p = Tensor::arange(24).reshape({2, 3, 4}).permute({2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(vec(p.contiguous())[1] == 4.f);  // p[0,0,1] = a[0,1,0] = 4
    CHECK_FALSE(p.contiguous().shares_storage(p));
    // writing through a view changes the base
    s.fill_(-1.f);
    CHECK(vec(a)[1] == -1.f);
    CHECK(vec(a)[0] == 0.f);
}

TEST_CASE("broadcasting and known values") {
    Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor b = Tensor::from_vector({10, 20, 30}, {3});
    CHECK(vec(a + b) == std::vector<float>{11, 22, 33, 14, 25, 36});
    CHECK(vec(a * Tensor::from_vector({2, 3}, {2, 1})) == std::vector<float>{2, 4, 6, 12, 15, 18});
    CHECK_THROWS_AS(add(a, Tensor::zeros({2})), Error);
    CHECK(vec(sum(a, {0})) == std::vector<float>{5, 7, 9});
    CHECK(vec(sum(a, {1})) == std::vector<float>{6, 15});
    CHECK(sum(a).item() == 21.f);
    CHECK(vec(mean(a, {1})) == std::vector<float>{2, 5});
    CHECK(vec(max(a, {0})) == std::vector<float>{4, 5, 6});
    CHECK(vec(matmul(a, a.t())) == std::vector<float>{14, 32, 32, 77});
    auto sm = vec(softmax(Tensor::from_vector({0, std::log(3.f)}, {2})));
    CHECK(sm[0] == doctest::Approx(0.25));
    CHECK(sm[1] == doctest::Approx(0.75));
    auto ls = vec(log_softmax(Tensor::from_vector({1000, 1000}, {2})));  // stable for large logits
    CHECK(ls[0] == doctest::Approx(std::log(0.5)));
    auto ln = vec(layer_norm(Tensor::from_vector({1, 2, 3}, {1, 3}), Tensor(), Tensor(), 0.f));
    CHECK(ln[0] == doctest::Approx(-std::sqrt(1.5)).epsilon(1e-4));
    CHECK(vec(silu(Tensor::scalar(1.f)))[0] == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
    CHECK(vec(gelu(Tensor::scalar(1.f)))[0] == doctest::Approx(0.841344746).epsilon(1e-5));
    CHECK(vec(softplus(Tensor::scalar(100.f)))[0] == doctest::Approx(100.0));
    CHECK(vec(clamp(a, 2.f, 4.f)) == std::vector<float>{2, 2, 3, 4, 4, 4});
    CHECK(vec(concat({a, b.reshape({1, 3})}, 0)).size() == 9);
    CHECK(vec(index_select(a, 1, {2, 0})) == std::vector<float>{3, 1, 6, 4});
    CHECK(vec(gather_rows(a, {2, 0})) == std::vector<float>{3, 4});
}

TEST_CASE("autograd: accumulation, no-grad, detach, errors") {
    Tensor x = Tensor::from_vector({1, 2, 3}, {3});
    x.requires_grad_();
    Tensor y = sum(mul(x, x));
    y.backward();
    CHECK(vec(x.grad()) == std::vector<float>{2, 4, 6});
    sum(x).backward();  // accumulates
    CHECK(vec(x.grad()) == std::vector<float>{3, 5, 7});
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
    {
        NoGradGuard ng;
        Tensor z = mul(x, 2.f);
        CHECK_FALSE(z.requires_grad());
    }
    CHECK_FALSE(x.detach().requires_grad());
    CHECK_THROWS_AS(sum(x.detach()).backward(), Error);
    CHECK_THROWS_AS(mul(x, x).backward(), Error);  // non-scalar without grad_output
    // a leaf used twice gets the sum of both paths, and the two leaves' grads do not alias
    Tensor a = Tensor::from_vector({1, 2}, {2});
    Tensor b = Tensor::from_vector({3, 4}, {2});
    a.requires_grad_();
    b.requires_grad_();
    sum(add(a, b)).backward();
    CHECK_FALSE(a.grad().shares_storage(b.grad()));
    sum(a).backward();
    CHECK(vec(a.grad()) == std::vector<float>{2, 2});
    CHECK(vec(b.grad()) == std::vector<float>{1, 1});
}

TEST_CASE("double backward: d/dx of dy/dx for y = x^3 is 6x") {
    Tensor x = Tensor::from_vector({0.5f, -2.f}, {2});
    x.requires_grad_();
    Tensor y = sum(pow(x, 3.f));
    Tensor g = grad({y}, {x}, {}, true)[0];  // 3x^2, itself differentiable
    CHECK(vec(g) == std::vector<float>{0.75f, 12.f});
    Tensor h = grad({sum(g)}, {x})[0];
    CHECK(vec(h)[0] == doctest::Approx(3.f));
    CHECK(vec(h)[1] == doctest::Approx(-12.f));
}

TEST_CASE("the graph frees intermediates backward does not need, and still differentiates twice") {
    Tensor x = Tensor::from_vector({0.5f, -1.f}, {2});
    x.requires_grad_();
    // h = 2x is needed by no backward (add needs shapes only): dropping it frees its memory
    Tensor h = mul(x, 2.f);
    const std::weak_ptr<TensorImpl> h_impl = h.impl_ptr();
    Tensor y = add(h, 1.f);
    h = Tensor();
    CHECK(h_impl.expired());
    sum(y).backward();
    CHECK(vec(x.grad()) == std::vector<float>{2.f, 2.f});

    // the output of exp is saved by its backward even when its handle is gone; the gradient of
    // sum(exp(x) + 0) twice is still exp(x)
    Tensor z = sum(add(exp(x), 0.f));
    Tensor g = grad({z}, {x}, {}, true)[0];
    Tensor gg = grad({sum(g)}, {x})[0];
    CHECK(vec(gg)[0] == doctest::Approx(std::exp(0.5f)));
    CHECK(vec(gg)[1] == doctest::Approx(std::exp(-1.f)));

    // x * c with a constant c keeps c for backward but not x
    Tensor a = mul(x, 3.f);
    const std::weak_ptr<TensorImpl> a_impl = a.impl_ptr();
    Tensor c = Tensor::from_vector({4.f, 5.f}, {2});
    Tensor p = mul(a, c);
    a = Tensor();
    CHECK(a_impl.expired());
    CHECK(vec(grad({sum(p)}, {x})[0]) == std::vector<float>{12.f, 15.f});
}

TEST_CASE("grad() only follows paths to the requested inputs and reports unused ones") {
    Tensor w = rand_tensor({4, 3}, 1);
    Tensor x = rand_tensor({2, 3}, 2);
    Tensor unused = rand_tensor({3}, 3);
    w.requires_grad_();
    x.requires_grad_();
    unused.requires_grad_();
    Tensor out = sum(linear(x, w));
    auto gx = grad({out}, {x});
    CHECK(gx[0].shape() == x.shape());
    CHECK_FALSE(w.grad().defined());  // grad() never touches .grad
    CHECK_THROWS_AS(grad({out}, {unused}), Error);
    auto gu = grad({out}, {unused}, {}, false, true);
    CHECK(sum(abs(gu[0])).item() == 0.f);
}

TEST_CASE("backward() frees what each node saved once it has run; grad() and create_graph keep it") {
    // a node whose backward holds a probe: the probe dies exactly when the node's saved state does
    auto probed = [](const Tensor& x, std::weak_ptr<int>& watch) {
        auto probe = std::make_shared<int>(0);
        watch = probe;
        Tensor out = mul(x.detach(), 2.f);
        return record(out, "probed", {x}, [probe](const Tensor& g, const std::vector<bool>&) {
            return std::vector<Tensor>{mul(g, 2.f)};
        });
    };
    Tensor x = rand_tensor({3}, 1).requires_grad_();
    std::weak_ptr<int> watch;
    Tensor y = sum(exp(probed(x, watch)));
    grad({y}, {x});
    CHECK_FALSE(watch.expired());  // grad() may be called again
    y.backward(Tensor(), true);
    CHECK_FALSE(watch.expired());  // so may backward with create_graph
    const std::vector<float> first = x.grad().to_vector();
    y.backward();
    CHECK(watch.expired());  // freed while y, and so the graph, is still alive
    for (size_t i = 0; i < first.size(); ++i) CHECK(x.grad().to_vector()[i] == doctest::Approx(2 * first[i]));  // accumulated twice
    bool refused = false;
    try {
        y.backward();
    } catch (const Error& e) {
        refused = std::string(e.what()).find("a second time") != std::string::npos;
    }
    CHECK(refused);
}

TEST_CASE("leaf-ready reports: each leaf once, when its gradient is complete, only in backward()") {
    // h1 = x w, h2 = h1 v, y = sum(h2 w): w is used by the first and the last node, so its gradient
    // is complete only after the first node's backward (the last to run); v's comes before it
    Tensor x = rand_tensor({2, 3}, 1), w = rand_tensor({3, 3}, 2).requires_grad_(), v = rand_tensor({3, 3}, 3).requires_grad_();
    Tensor b = rand_tensor({3}, 4).requires_grad_();  // used once, by the last node: reported first
    auto forward = [&] { return sum(add(matmul(matmul(matmul(x, w), v), w), b)); };
    std::vector<const TensorImpl*> order;
    std::vector<std::vector<float>> reported;
    {
        LeafGradReadyScope scope([&](const TensorImpl* leaf, const Tensor& g) {
            order.push_back(leaf);
            reported.push_back(g.to_vector());
        });
        forward().backward();
        REQUIRE(order.size() == 3);
        CHECK(order[0] == b.impl());
        CHECK(order[1] == v.impl());
        CHECK(order[2] == w.impl());  // not after the last node's partial gradient
        CHECK(reported[1] == vec(v.grad()));
        CHECK(reported[2] == vec(w.grad()));  // both uses summed
        CHECK(reported[0] == vec(b.grad()));
        order.clear();
        grad({forward()}, {w, v});  // grad() reports nothing
        CHECK(order.empty());
        // a scalar leaf that is the output itself
        Tensor s = Tensor::scalar(2.f).requires_grad_();
        s.backward();
        REQUIRE(order.size() == 1);
        CHECK(order[0] == s.impl());
        {
            int inner = 0;
            LeafGradReadyScope nested([&](const TensorImpl*, const Tensor&) { ++inner; });
            w.zero_grad();
            forward().backward();
            CHECK(inner == 3);
        }
        order.clear();
        forward().backward();  // the outer scope is back
        CHECK(order.size() == 3);
    }
    order.clear();
    forward().backward();  // outside any scope
    CHECK(order.empty());
}

TEST_CASE("random tensors: reproducible from the seed, advancing the generator") {
    Generator g1(42), g2(42);
    Tensor a = Tensor::normal({1000}, g1);
    Tensor b = Tensor::normal({1000}, g2);
    CHECK(vec(a) == vec(b));
    Tensor c = Tensor::normal({1000}, g1);
    CHECK(vec(a) != vec(c));
    CHECK(mean(a).item() == doctest::Approx(0.0).epsilon(0.1));
    Tensor u = Tensor::uniform({1000}, g1, 2.f, 3.f);
    CHECK(max(u).item() < 3.f);
    CHECK(neg(max(neg(u))).item() >= 2.f);
}

TEST_CASE("without a GPU, CUDA is reported absent and using it is a clear error") {
    if (cuda_available()) return;
    // a CPU-only build says it was built without CUDA; a CUDA build that finds no GPU says so
    CHECK_THROWS_WITH_AS(Tensor::zeros({2}, Device::cuda), doctest::Contains("CUDA"), Error);
    CHECK_THROWS_WITH_AS(Tensor::zeros({2}, Device::cuda), doctest::Contains("cpu"), Error);
    CHECK_THROWS_AS(Tensor::zeros({2}).to(Device::cuda), Error);
}

TEST_CASE("NaN propagates through relu, sign, clamp, maximum/minimum and max/min reductions") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const Tensor x = Tensor::from_vector({1.f, nan, -2.f, 0.5f}, {4});
    for (const Tensor& y : {relu(x), clamp(x, -1.f, 1.f), maximum(x, Tensor::scalar(0.f)), minimum(x, Tensor::scalar(0.f)),
                            abs(x)}) {
        CHECK(std::isnan(y.to_vector()[1]));
        CHECK_FALSE(std::isnan(y.to_vector()[0]));
    }
    // every reduction path: whole tensor, trailing axis, leading rows of a contiguous tensor
    const Tensor m = Tensor::from_vector({1.f, 2.f, nan, 4.f, 5.f, 6.f}, {3, 2});
    CHECK(std::isnan(max(m).item()));
    CHECK(std::isnan(max(m, {1}).to_vector()[1]));
    CHECK_FALSE(std::isnan(max(m, {1}).to_vector()[0]));
    CHECK(std::isnan(max(m, {0}).to_vector()[0]));
    CHECK(max(m, {0}).to_vector()[1] == 6.f);
}

TEST_CASE("empty tensors: element-wise ops, reductions and products of size-0 shapes") {
    const Tensor e = Tensor::zeros({3, 0});
    CHECK(e.is_contiguous());
    CHECK(exp(e).shape() == Shape{3, 0});
    CHECK(sum(Tensor::zeros({2, 0, 3}), {1}).to_vector() == std::vector<float>(6, 0.f));
    CHECK(matmul(Tensor::ones({3, 0}), Tensor::ones({0, 2})).to_vector() == std::vector<float>(6, 0.f));
    CHECK(matmul(Tensor::ones({0, 4}), Tensor::ones({4, 2})).shape() == Shape{0, 2});
}

TEST_CASE("matmul reads an expanded scalar operand (1 x 1 with zero strides)") {
    const Tensor s = Tensor::scalar(3.f).reshape({1}).expand({1, 1});
    CHECK(matmul(s, Tensor::from_vector({1.f, 2.f}, {1, 2})).to_vector() == std::vector<float>{3.f, 6.f});
    CHECK(matmul(Tensor::from_vector({1.f, 2.f}, {2, 1}), s).to_vector() == std::vector<float>{3.f, 6.f});
}

TEST_CASE("a 0-D tensor has no dimension 0: size, reductions and softmax refuse any dim") {
    const Tensor s = Tensor::scalar(2.f);
    CHECK(s.dim() == 0);
    CHECK_THROWS_AS(s.size(0), Error);
    CHECK_THROWS_AS(s.size(-1), Error);
    CHECK_THROWS_AS(sum(s, {0}), Error);
    CHECK_THROWS_AS(s.squeeze(0), Error);
    CHECK(sum(s).item() == 2.f);  // reducing everything still works
    CHECK(Tensor::zeros({3}).size(0) == 3);
    CHECK(Tensor::zeros({3, 4}).size(-1) == 4);
    CHECK_THROWS_AS(Tensor::zeros({3}).size(1), Error);
}

TEST_CASE("empty tensors copy to and from the host without touching a null pointer") {
    // (UBSan: memcpy with a null source or destination is undefined even for zero bytes)
    const Tensor e = Tensor::from_vector({}, {0, 3});
    CHECK(e.numel() == 0);
    CHECK(e.to_vector().empty());
    CHECK(e.to(Device::cpu).shape() == Shape{0, 3});
    CHECK(Tensor::from_vector({}, {0}).contiguous().to_vector().empty());
}

TEST_CASE("shapes whose strides or element count overflow int64 are an error, not undefined behaviour") {
    // (fuzz finding: a zero-size side beside huge ones passed the element-count checks of files)
    const int64_t huge = int64_t{1} << 32;
    CHECK_THROWS_WITH_AS(Tensor::empty({0, huge, huge}), doctest::Contains("too large"), Error);
    CHECK_THROWS_WITH_AS(Tensor::empty({huge, huge, huge}), doctest::Contains("more elements"), Error);
    CHECK(Tensor::empty({0, 1 << 20, 1 << 20}).numel() == 0);  // large but representable: fine
}
