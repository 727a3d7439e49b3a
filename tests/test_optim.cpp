// Optimizers, schedules, EMA and gradient clipping: PyTorch known answers, convergence on a
// quadratic, parameter groups, bit-exact state save / restore, and error reporting.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <rflow/rflow.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/optim/clip.hpp>
#include <rflow/optim/ema.hpp>
#include <rflow/optim/optimizer.hpp>
#include <rflow/optim/rmsprop.hpp>
#include <rflow/optim/schedule.hpp>
#include <rflow/optim/sgd.hpp>

using namespace rflow;
using namespace rflow::optim;

namespace {

using Rows = std::vector<std::vector<float>>;

Tensor param(const std::vector<float>& v, const Shape& shape) {
    Tensor p = Tensor::from_vector(v, shape);
    p.requires_grad_(true);
    return p;
}

// Two steps with the fixed grads below, comparing p after each with PyTorch's values.
const std::vector<float> kP0{0.5f, -1.0f, 2.0f};
const std::vector<float> kG1{0.1f, -0.2f, 0.3f};
const std::vector<float> kG2{-0.4f, 0.5f, 0.05f};

template <class Make>
void check_two_steps(Make make, const Rows& expected) {
    Tensor p = param(kP0, {3});
    auto opt = make(std::vector<Tensor>{p});
    const std::vector<float>* grads[2] = {&kG1, &kG2};
    for (int s = 0; s < 2; ++s) {
        p.set_grad(Tensor::from_vector(*grads[s], {3}));
        opt.step();
        const auto got = p.to_vector();
        for (int i = 0; i < 3; ++i) {
            INFO("step " << s + 1 << ", element " << i);
            CHECK(got[i] == doctest::Approx(expected[s][i]).epsilon(2e-6));
        }
    }
    CHECK(opt.steps_taken() == 2);
}

// loss = ||A p - b||^2 for p [3, 1]; optimum p* = A^-1 b.
const std::vector<float> kA{2.f, 0.5f, 0.f, 0.5f, 1.5f, 0.2f, 0.f, 0.2f, 1.f};
const std::vector<float> kB{1.f, -2.f, 0.5f};
// numpy/torch float64: torch.linalg.solve(A, b)
const std::vector<float> kPStar{0.940074906f, -1.760299625f, 0.852059925f};

Tensor quad_loss(const Tensor& p) {
    Tensor a = Tensor::from_vector(kA, {3, 3});
    Tensor b = Tensor::from_vector(kB, {3, 1});
    return sum(square(matmul(a, p) - b));
}

// One step of a deterministic loss over several parameters, for the resume tests.
void loss_step(Optimizer& opt, std::vector<Tensor>& ps) {
    opt.zero_grad();
    Tensor loss = quad_loss(ps[0]) + sum(square(ps[1] - 0.25f)) * 3.f + sum(mul(ps[2], ps[2]) * ps[0].reshape({1, 3}));
    loss.backward();
    opt.step();
}

std::vector<Tensor> fresh_params() {
    return {param({0.1f, 0.2f, -0.3f}, {3, 1}), param({1.f, -1.f, 0.5f, 2.f}, {2, 2}),
            param({0.3f, -0.7f, 0.9f}, {3})};
}

std::vector<Tensor> copies(const std::vector<Tensor>& ps) {
    std::vector<Tensor> out;
    for (const auto& p : ps) {
        Tensor c = p.detach().clone();
        c.requires_grad_(true);
        out.push_back(c);
    }
    return out;
}

std::unique_ptr<Optimizer> make_variant(const std::string& which, std::vector<ParamGroup> groups) {
    if (which == "sgd+nesterov") {
        SgdOptions o;
        o.momentum = 0.9f;
        o.nesterov = true;
        return std::make_unique<Sgd>(std::move(groups), o);
    }
    if (which == "rmsprop+momentum+centered") {
        RmsPropOptions o;
        o.momentum = 0.5f;
        o.centered = true;
        return std::make_unique<RmsProp>(std::move(groups), o);
    }
    return make_optimizer(which, std::move(groups));
}

std::vector<ParamGroup> two_groups(const std::vector<Tensor>& ps) {
    return {ParamGroup{"body", {ps[0], ps[1]}, 0.01f, 0.01f}, ParamGroup{"", {ps[2]}, 0.02f, 0.f}};
}

}  // namespace

// Reference values: torch 1.13 (Debian python3-torch), float32 CPU, p0 = [0.5, -1, 2],
// grads [0.1, -0.2, 0.3] then [-0.4, 0.5, 0.05]; p printed after each opt.step() with "%.9g".
TEST_CASE("SGD known answers (PyTorch)") {
    SUBCASE("plain lr 0.1") {
        check_two_steps([](std::vector<Tensor> p) { SgdOptions o; o.lr = 0.1f; return Sgd(p, o); },
                        {{0.49000001f, -0.980000019f, 1.97000003f},
                         {0.530000031f, -1.02999997f, 1.96500003f}});
    }
    SUBCASE("momentum 0.9") {
        check_two_steps([](std::vector<Tensor> p) { SgdOptions o; o.lr = 0.1f; o.momentum = 0.9f; return Sgd(p, o); },
                        {{0.49000001f, -0.980000019f, 1.97000003f},
                         {0.521000028f, -1.01199996f, 1.93800008f}});
    }
    SUBCASE("nesterov") {
        check_two_steps([](std::vector<Tensor> p) {
                            SgdOptions o; o.lr = 0.1f; o.momentum = 0.9f; o.nesterov = true;
                            return Sgd(p, o);
                        },
                        {{0.481000006f, -0.962000012f, 1.94299996f},
                         {0.548900008f, -1.04079998f, 1.90919995f}});
    }
    SUBCASE("weight decay 0.1, momentum 0.9, dampening 0.5") {
        check_two_steps([](std::vector<Tensor> p) {
                            SgdOptions o; o.lr = 0.1f; o.momentum = 0.9f; o.dampening = 0.5f; o.weight_decay = 0.1f;
                            return Sgd(p, o);
                        },
                        {{0.484999985f, -0.969999969f, 1.95000005f},
                         {0.489074975f, -0.963149965f, 1.89275002f}});
    }
    SgdOptions bad;
    bad.nesterov = true;
    CHECK_THROWS_AS(Sgd(std::vector<Tensor>{param(kP0, {3})}, bad), Error);
}

TEST_CASE("Adam and AdamW known answers (PyTorch)") {
    SUBCASE("Adam lr 0.01") {
        check_two_steps([](std::vector<Tensor> p) { AdamOptions o; o.lr = 0.01f; return Adam(p, o); },
                        {{0.49000001f, -0.99000001f, 1.99000001f},
                         {0.495595038f, -0.994422138f, 1.98216677f}});
    }
    SUBCASE("Adam betas (0.8, 0.99), eps 1e-3, L2 weight decay 0.1") {
        check_two_steps([](std::vector<Tensor> p) {
                            AdamOptions o; o.lr = 0.01f; o.beta1 = 0.8f; o.beta2 = 0.99f; o.eps = 1e-3f; o.weight_decay = 0.1f;
                            return Adam(p, o);
                        },
                        {{0.49006623f, -0.990033209f, 1.99001992f},
                         {0.494795144f, -0.992550135f, 1.98090053f}});
    }
    SUBCASE("AdamW lr 0.01, decoupled weight decay 0.1") {
        check_two_steps([](std::vector<Tensor> p) {
                            AdamWOptions o; o.lr = 0.01f; o.weight_decay = 0.1f;
                            return AdamW(p, o);
                        },
                        {{0.489500016f, -0.989000022f, 1.98800004f},
                         {0.494605541f, -0.99243319f, 1.97817886f}});
    }
    CHECK(AdamWOptions().weight_decay == 1e-2f);
    AdamOptions bad;
    bad.beta1 = 1.f;
    CHECK_THROWS_AS(Adam(std::vector<Tensor>{param(kP0, {3})}, bad), Error);
}

TEST_CASE("RMSProp known answers (PyTorch)") {
    SUBCASE("lr 0.01") {
        check_two_steps([](std::vector<Tensor> p) { RmsPropOptions o; o.lr = 0.01f; return RmsProp(p, o); },
                        {{0.400000095f, -0.900000036f, 1.9000001f},
                         {0.497042865f, -0.992911756f, 1.8834796f}});
    }
    SUBCASE("momentum 0.9, weight decay 0.1") {
        check_two_steps([](std::vector<Tensor> p) {
                            RmsPropOptions o; o.lr = 0.01f; o.momentum = 0.9f; o.weight_decay = 0.1f;
                            return RmsProp(p, o);
                        },
                        {{0.400000066f, -0.900000036f, 1.89999998f},
                         {0.402376145f, -0.890844166f, 1.76654994f}});
    }
    SUBCASE("centered, alpha 0.9, eps 1e-4") {
        check_two_steps([](std::vector<Tensor> p) {
                            RmsPropOptions o; o.lr = 0.01f; o.centered = true; o.alpha = 0.9f; o.eps = 1e-4f;
                            return RmsProp(p, o);
                        },
                        {{0.466777414f, -0.966722131f, 1.96670365f},
                         {0.498435557f, -0.996813595f, 1.96086884f}});
    }
}

TEST_CASE("every optimizer minimises ||A p - b||^2") {
    for (const std::string& name : optimizer_names()) {
        CAPTURE(name);
        const float lr = name == "sgd" ? 0.05f : name == "rmsprop" ? 0.01f : 0.05f;
        Tensor p = param({0.f, 0.f, 0.f}, {3, 1});
        auto opt = make_optimizer(name, {ParamGroup{"", {p}, lr}});
        // Cosine decay to 0 lets the adaptive methods settle instead of hovering at lr scale.
        WarmupCosineSchedule sched(10, 1500, 0.f);
        const auto base = group_lrs(*opt);
        float first = 0, last = 0;
        for (int s = 0; s < 1500; ++s) {
            apply_schedule(*opt, sched, opt->steps_taken(), base);
            opt->zero_grad();
            Tensor loss = quad_loss(p);
            if (s == 0) first = loss.item();
            last = loss.item();
            loss.backward();
            opt->step();
        }
        CHECK(last < 1e-6f * first);
        const auto got = p.to_vector();
        for (int i = 0; i < 3; ++i) CHECK(got[i] == doctest::Approx(kPStar[i]).epsilon(1e-3));
    }
    CHECK_THROWS_WITH_AS(make_optimizer("adagrad", {}), doctest::Contains("adagrad"), Error);
}

TEST_CASE("parameter groups: different lrs, lr changes between steps, undefined grads skipped") {
    Tensor a = param({1.f, 1.f}, {2});
    Tensor b = param({1.f, 1.f}, {2});
    Tensor c = param({5.f}, {1});  // never gets a grad
    SgdOptions o;
    Sgd opt({ParamGroup{"fast", {a}, 0.1f}, ParamGroup{"slow", {b, c}, 0.01f}}, o);
    auto grad_step = [&] {
        opt.zero_grad();
        a.set_grad(Tensor::ones({2}));
        b.set_grad(Tensor::ones({2}));
        opt.step();
    };
    grad_step();
    CHECK(a.to_vector()[0] == doctest::Approx(0.9f));
    CHECK(b.to_vector()[0] == doctest::Approx(0.99f));
    CHECK(c.to_vector()[0] == 5.f);
    opt.groups()[0].lr = 0.f;  // freeze the fast group
    opt.groups()[1].lr = 0.5f;
    grad_step();
    CHECK(a.to_vector()[0] == doctest::Approx(0.9f));
    CHECK(b.to_vector()[0] == doctest::Approx(0.49f));
    CHECK(opt.params().size() == 3);
    // c never had a grad: its per-parameter step count stayed 0.
    bool found = false;
    for (const auto& [k, t] : opt.state()) {
        if (k == "sgd.param_step.slow.1") {
            found = true;
            CHECK(t.item() == 0.f);
        }
    }
    CHECK(found);
    opt.zero_grad();
    CHECK_FALSE(a.grad().defined());

    // Adam's bias correction counts per parameter: a parameter's first update is a "t = 1" update
    // (magnitude ~lr) even when the optimizer has stepped before.
    Tensor x = param({0.f}, {1});
    Tensor y = param({0.f}, {1});
    AdamOptions ao;
    ao.lr = 0.1f;
    Adam adam(std::vector<Tensor>{x, y}, ao);
    x.set_grad(Tensor::full({1}, 2.f));
    adam.step();
    y.set_grad(Tensor::full({1}, 3.f));
    adam.step();
    CHECK(y.to_vector()[0] == doctest::Approx(-0.1f).epsilon(1e-5));

    // Bad groups are rejected with a clear error.
    CHECK_THROWS_AS(Sgd({ParamGroup{"g", {a}, -1.f}}), Error);
    CHECK_THROWS_AS(Sgd({ParamGroup{"g", {a, a}, 0.1f}}), Error);
    CHECK_THROWS_AS(Sgd({ParamGroup{"g", {a}, 0.1f}, ParamGroup{"g", {b}, 0.1f}}), Error);
    CHECK_THROWS_AS(Sgd({ParamGroup{"g", {Tensor::zeros({2, 3}).t()}, 0.1f}}), Error);
}

TEST_CASE("state() / load_state() resume bit for bit") {
    for (const std::string& which : {std::string("sgd"), std::string("sgd+nesterov"), std::string("adam"),
                                     std::string("adamw"), std::string("rmsprop"),
                                     std::string("rmsprop+momentum+centered")}) {
        CAPTURE(which);
        std::vector<Tensor> ps = fresh_params();
        auto opt = make_variant(which, two_groups(ps));
        for (int s = 0; s < 5; ++s) loss_step(*opt, ps);
        const NamedTensors saved = opt->state();
        const std::vector<Tensor> saved_params = copies(ps);
        for (int s = 0; s < 5; ++s) loss_step(*opt, ps);

        std::vector<Tensor> resumed = copies(saved_params);
        auto opt2 = make_variant(which, two_groups(resumed));
        opt2->load_state(saved);
        CHECK(opt2->steps_taken() == 5);
        for (int s = 0; s < 5; ++s) loss_step(*opt2, resumed);
        CHECK(opt2->steps_taken() == 10);
        for (size_t i = 0; i < ps.size(); ++i) {
            CAPTURE(i);
            CHECK(ps[i].to_vector() == resumed[i].to_vector());  // bit-identical
        }
        // The names are stable and use group names (or positions).
        bool has_step = false, has_named = false;
        for (const auto& [k, t] : saved) {
            has_step |= k == opt->kind() + ".step";
            has_named |= k == opt->kind() + ".param_step.body.1";
        }
        CHECK(has_step);
        CHECK(has_named);
    }

    // Adam's buffer names, and errors: a missing key or a wrong shape names the key and changes nothing.
    std::vector<Tensor> ps = fresh_params();
    Adam adam(two_groups(ps));
    loss_step(adam, ps);
    NamedTensors st = adam.state();
    bool has_m = false, has_v = false;
    for (const auto& [k, t] : st) {
        has_m |= k == "adam.m.body.0" && t.shape() == Shape{3, 1};
        has_v |= k == "adam.v.1.0" && t.shape() == Shape{3};
    }
    CHECK(has_m);
    CHECK(has_v);

    std::vector<Tensor> ps2 = fresh_params();
    Adam fresh(two_groups(ps2));
    NamedTensors missing;
    for (const auto& kv : st)
        if (kv.first != "adam.v.body.1") missing.push_back(kv);
    CHECK_THROWS_WITH_AS(fresh.load_state(missing), doctest::Contains("adam.v.body.1"), Error);
    NamedTensors wrong = st;
    for (auto& kv : wrong)
        if (kv.first == "adam.m.body.0") kv.second = Tensor::zeros({1, 3});
    CHECK_THROWS_WITH_AS(fresh.load_state(wrong), doctest::Contains("adam.m.body.0"), Error);
    CHECK(fresh.steps_taken() == 0);  // nothing was applied
    for (const auto& [k, t] : fresh.state())
        if (k.rfind("adam.m.", 0) == 0) CHECK(sum(abs(t)).item() == 0.f);
    // State from another optimizer kind is refused too.
    Sgd sgd(two_groups(ps2));
    CHECK_THROWS_WITH_AS(sgd.load_state(st), doctest::Contains("sgd.step"), Error);
}

TEST_CASE("clip_grad_norm and grads_finite") {
    Tensor a = param({0.f, 0.f}, {2});
    Tensor b = param({0.f}, {1, 1});
    Tensor none = param({1.f}, {1});  // undefined grad: ignored
    const std::vector<Tensor> ps{a, b, none};
    a.set_grad(Tensor::from_vector({3.f, 4.f}, {2}));
    b.set_grad(Tensor::from_vector({12.f}, {1, 1}));
    CHECK(grad_norm(ps) == doctest::Approx(13.f));
    CHECK(clip_grad_norm(ps, 20.f) == doctest::Approx(13.f));  // below max: unchanged
    CHECK(a.grad().to_vector() == std::vector<float>{3.f, 4.f});
    // torch.nn.utils.clip_grad_norm_ gives 13.0 and grads [1.4999999, 1.9999999], [[5.9999995]].
    CHECK(clip_grad_norm(ps, 6.5f) == doctest::Approx(13.f));
    CHECK(a.grad().to_vector()[0] == doctest::Approx(1.5f).epsilon(1e-6));
    CHECK(a.grad().to_vector()[1] == doctest::Approx(2.f).epsilon(1e-6));
    CHECK(b.grad().to_vector()[0] == doctest::Approx(6.f).epsilon(1e-6));
    CHECK(grad_norm(ps) == doctest::Approx(6.5f).epsilon(1e-6));
    CHECK_THROWS_AS(clip_grad_norm(ps, 0.f), Error);

    CHECK(grads_finite(ps));
    b.set_grad(Tensor::from_vector({std::numeric_limits<float>::quiet_NaN()}, {1, 1}));
    CHECK_FALSE(grads_finite(ps));
    CHECK(std::isnan(clip_grad_norm(ps, 1.f)));
    CHECK(a.grad().to_vector()[0] == doctest::Approx(1.5f).epsilon(1e-6));  // nothing scaled
    b.set_grad(Tensor::from_vector({std::numeric_limits<float>::infinity()}, {1, 1}));
    CHECK_FALSE(grads_finite(ps));
    b.zero_grad();
    CHECK(grads_finite(ps));
    // A non-contiguous grad takes the general path.
    Tensor m = param({0.f, 0.f, 0.f, 0.f}, {2, 2});
    m.set_grad(Tensor::from_vector({3.f, 0.f, 4.f, 0.f}, {2, 2}).t());
    CHECK(clip_grad_norm({m}, 1.f) == doctest::Approx(5.f));
    CHECK(grad_norm({m}) == doctest::Approx(1.f).epsilon(1e-5));
}

TEST_CASE("schedules") {
    WarmupCosineSchedule s(10, 110, 0.1f);
    CHECK(s.factor(0) == 0.f);
    CHECK(s.factor(5) == doctest::Approx(0.5f));
    CHECK(s.factor(10) == doctest::Approx(1.f));
    CHECK(s.factor(60) == doctest::Approx(0.55f));  // mid-way: min + (1 - min) / 2
    CHECK(s.factor(35) == doctest::Approx(0.1f + 0.9f * 0.5f * (1.f + std::cos(3.14159265f * 0.25f))));
    CHECK(s.factor(110) == doctest::Approx(0.1f));
    CHECK(s.factor(1000) == doctest::Approx(0.1f));
    CHECK_THROWS_AS(s.factor(-1), Error);
    CHECK_THROWS_AS(WarmupCosineSchedule(10, 10, 0.f), Error);
    CHECK_THROWS_AS(WarmupCosineSchedule(0, 10, 1.5f), Error);
    WarmupCosineSchedule nowarm(0, 100);
    CHECK(nowarm.factor(0) == doctest::Approx(1.f));
    CHECK(nowarm.factor(100) == doctest::Approx(0.f));
    CHECK(ConstantSchedule().factor(123) == 1.f);

    Tensor a = param({1.f}, {1});
    Tensor b = param({1.f}, {1});
    Adam opt({ParamGroup{"A", {a}, 1e-3f}, ParamGroup{"B", {b}, 1.6e-2f}});  // LoRA+-style ratio 16
    const auto base = group_lrs(opt);
    apply_schedule(opt, s, 5, base);
    CHECK(opt.groups()[0].lr == doctest::Approx(0.5e-3f));
    CHECK(opt.groups()[1].lr == doctest::Approx(0.8e-2f));
    apply_schedule(opt, ConstantSchedule(), 7, base);
    CHECK(opt.groups()[1].lr == doctest::Approx(1.6e-2f));
    CHECK_THROWS_AS(apply_schedule(opt, s, 0, {1.f}), Error);
}

TEST_CASE("EMA known answer, copy_to and state round trip") {
    Tensor p = param({1.f, 2.f}, {2});
    Ema ema({p}, 0.9f);
    CHECK(ema.shadow()[0].to_vector() == std::vector<float>{1.f, 2.f});
    CHECK_FALSE(ema.shadow()[0].shares_storage(p));
    {
        NoGradGuard ng;
        p.copy_(Tensor::from_vector({2.f, 4.f}, {2}));
    }
    ema.update({p});  // 0.9 [1, 2] + 0.1 [2, 4] = [1.1, 2.2]
    auto s = ema.shadow()[0].to_vector();
    CHECK(s[0] == doctest::Approx(1.1f));
    CHECK(s[1] == doctest::Approx(2.2f));
    p.fill_(0.f);
    ema.update({p});  // 0.9 [1.1, 2.2] = [0.99, 1.98]
    s = ema.shadow()[0].to_vector();
    CHECK(s[0] == doctest::Approx(0.99f));
    CHECK(s[1] == doctest::Approx(1.98f));
    CHECK(ema.num_updates() == 2);

    const NamedTensors st = ema.state();
    Tensor q = param({0.f, 0.f}, {2});
    Ema other({q}, 0.9f);
    other.load_state(st);
    CHECK(other.num_updates() == 2);
    CHECK(other.shadow()[0].to_vector() == ema.shadow()[0].to_vector());
    std::vector<Tensor> targets{q};
    other.copy_to(targets);
    CHECK(q.to_vector() == ema.shadow()[0].to_vector());
    CHECK(q.requires_grad());

    CHECK_THROWS_WITH_AS(other.load_state({}), doctest::Contains("ema.updates"), Error);
    Tensor r = param({0.f, 0.f, 0.f}, {3});
    Ema mismatched({r}, 0.5f);
    CHECK_THROWS_WITH_AS(mismatched.load_state(st), doctest::Contains("ema.shadow.0"), Error);
    CHECK_THROWS_AS(ema.update({r}), Error);
    CHECK_THROWS_AS(Ema({p}, 1.5f), Error);
}

TEST_CASE("EMA warmup: d = min(decay, (1 + n) / (10 + n)), resumed from the update count") {
    Tensor p = param({0.f}, {1});
    Ema ema({p}, 0.95f, true);
    CHECK(ema.warmup());
    CHECK(ema.current_decay() == doctest::Approx(0.1f));  // n = 0: (1 + 0) / (10 + 0)
    double s = 0.0;
    for (int n = 0; n < 300; ++n) {
        const double d = std::min(0.95, (1.0 + n) / (10.0 + n));
        {
            NoGradGuard ng;
            p.fill_(static_cast<float>(n % 7));
        }
        ema.update({p});
        s = d * s + (1.0 - d) * (n % 7);
        CHECK(ema.shadow()[0].to_vector()[0] == doctest::Approx(s).epsilon(1e-5));
    }
    CHECK(ema.current_decay() == doctest::Approx(0.95f));  // capped by decay once (1 + n) / (10 + n) > 0.95
    // the schedule continues from the saved update count
    Tensor q = param({0.f}, {1});
    Ema resumed({q}, 0.95f, true);
    resumed.load_state(ema.state());
    CHECK(resumed.current_decay() == ema.current_decay());
    Ema fresh({q}, 0.999f, true);
    CHECK(fresh.current_decay() == doctest::Approx(0.1f));
    Ema plain({q}, 0.999f);
    CHECK(plain.current_decay() == 0.999f);  // warmup is opt-in: the known answer above is unchanged
}
