// Trainers: time samplers and couplings by name, EMA resume, reflow pairs round trip, the
// Gaussian-to-Gaussian property (SPEC 1.h.5) for a trained field, and reflow straightening.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <unistd.h>

#include <rflow/autograd.hpp>
#include <rflow/data/toy2d.hpp>
#include <rflow/metrics.hpp>
#include <rflow/nn/velocity_mlp.hpp>
#include <rflow/ops.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/optim/sgd.hpp>
#include <rflow/samplers/sampler.hpp>
#include <rflow/trainers/coupling.hpp>
#include <rflow/trainers/flow_matching.hpp>
#include <rflow/trainers/reflow.hpp>
#include <rflow/trainers/time_sampler.hpp>

#include "gradcheck.hpp"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("rflow_test_trainers_" + std::to_string(getpid()));
    fs::create_directories(dir);
    return (dir / name).string();
}

trainers::DataSource toy(const std::string& name) {
    return [name](int64_t n, Generator& g) { return data::sample_toy(name, n, g); };
}

std::vector<float> flat(const std::vector<Tensor>& ts) {
    std::vector<float> all;
    for (const Tensor& p : ts) {
        auto v = p.to_vector();
        all.insert(all.end(), v.begin(), v.end());
    }
    return all;
}

double mean_of(const Tensor& t) { return mean(t).item(); }
double std_of(const Tensor& t) { return std::sqrt(mean(square(t - mean(t))).item()); }

}  // namespace

TEST_CASE("time samplers: every registered one stays in [0, 1] with its documented shape") {
    for (const std::string& name : trainers::time_sampler_names()) {
        CAPTURE(name);
        trainers::TimeSamplerOptions o;
        o.grid_steps = 4;
        auto ts = trainers::make_time_sampler(name, o);
        Generator g(1);
        Tensor t = ts->sample(20000, g);
        CHECK(max(t).item() <= 1.f);
        CHECK(neg(max(neg(t))).item() >= 0.f);
        if (name == "uniform") CHECK(mean_of(t) == doctest::Approx(0.5).epsilon(0.02));
        if (name == "logit-normal") {
            CHECK(mean_of(t) == doctest::Approx(0.5).epsilon(0.02));
            CHECK(std_of(t) < std::sqrt(1.0 / 12) * 0.8);  // more mass in the middle than uniform
        }
        if (name == "grid") {
            int64_t off_grid = 0;
            for (float v : t.to_vector()) off_grid += !(v == 0.f || v == 0.25f || v == 0.5f || v == 0.75f);
            CHECK(off_grid == 0);
            CHECK(mean_of(t) == doctest::Approx(0.375).epsilon(0.02));
        }
    }
    CHECK_THROWS_WITH_AS(trainers::make_time_sampler("beta"), doctest::Contains("uniform"), Error);
}

TEST_CASE("couplings: OT pairing lowers the pair cost of the same draws") {
    Generator a(3), b(3);
    auto [x0i, x1i, li] = trainers::make_coupling("independent", toy("8gaussians"))(256, a);
    auto [x0o, x1o, lo] = trainers::make_coupling("ot", toy("8gaussians"))(256, b);
    CHECK((li.empty() && lo.empty()));
    CHECK(x0i.to_vector() == x0o.to_vector());  // the same noise, the same data, re-paired
    const double cost_i = sum(square(x1i - x0i)).item(), cost_o = sum(square(x1o - x0o)).item();
    CHECK(cost_o < 0.7 * cost_i);
    // the OT batch holds the same data points, only re-ordered
    auto sorted = [](const Tensor& t) { auto v = t.to_vector(); std::sort(v.begin(), v.end()); return v; };
    CHECK(sorted(x1i) == sorted(x1o));
    CHECK_THROWS_AS(trainers::make_coupling("sinkhorn", toy("moons")), Error);
}

TEST_CASE("pairs: save/load round trip and clear errors") {
    Generator g(5);
    trainers::Pairs p{testing::rand_tensor({10, 2}, 1), testing::rand_tensor({10, 2}, 2), {{"sampler", "rk4"}}};
    const std::string path = temp_path("pairs.safetensors");
    trainers::save_pairs(path, p);
    trainers::Pairs q = trainers::load_pairs(path);
    CHECK(q.z0.to_vector() == p.z0.to_vector());
    CHECK(q.z1.to_vector() == p.z1.to_vector());
    CHECK_THROWS_WITH_AS(trainers::load_pairs(temp_path("nope.safetensors")), doctest::Contains("nope.safetensors"), Error);
    // generated pairs: z1 is the sampler's solution from z0
    samplers::VelocityField shift = [](const Tensor& x, const Tensor&) { return ones_like(x); };
    trainers::PairGenerationOptions o;
    o.sampler = "euler";
    o.sampler_options.steps = 4;
    o.chunk = 7;
    trainers::Pairs gen = trainers::generate_pairs(shift, {2}, 20, g, o);
    CHECK(gen.z0.shape() == Shape{20, 2});
    CHECK(testing::max_abs_diff(gen.z1, add(gen.z0, 1.f)) < 1e-5);
}

TEST_CASE("resume with EMA: bit-exact, and the EMA state is part of the checkpoint") {
    const auto run = [](int64_t steps, const io::Checkpoint* from, io::Checkpoint* save) {
        Generator init(from ? 77 : 4);
        nn::VelocityMLPConfig mc;
        mc.hidden = 32;
        nn::VelocityMLP model(mc, init);
        optim::Adam opt(model.parameters());
        trainers::FlowMatchingConfig cfg;
        cfg.steps = steps;
        cfg.batch = 64;
        cfg.ema_decay = 0.9f;
        cfg.time_sampler = "logit-normal";
        trainers::FlowMatchingTrainer tr(model, opt, trainers::make_coupling("ot", toy("moons")), cfg);
        if (from) tr.restore(*from);
        tr.train();
        if (save) *save = tr.checkpoint("{}");
        auto all = flat(model.parameters());
        auto ema = flat(tr.ema()->shadow());
        all.insert(all.end(), ema.begin(), ema.end());
        return all;
    };
    io::Checkpoint half;
    const auto straight = run(40, nullptr, nullptr);
    run(20, nullptr, &half);
    const auto resumed = run(40, &half, nullptr);
    REQUIRE(resumed.size() == straight.size());
    CHECK(std::memcmp(resumed.data(), straight.data(), straight.size() * sizeof(float)) == 0);
}

TEST_CASE("SPEC 1.h.5: a trained field on N(0,1) -> N(mu, sigma^2) approaches v* and lands on the target") {
    const float mu = 2.f, sigma = 0.5f;
    Generator init(2);
    nn::VelocityMLPConfig mc;
    mc.data_dim = 1;
    mc.hidden = 64;
    mc.depth = 2;
    nn::VelocityMLP model(mc, init);
    optim::AdamOptions ao;
    ao.lr = 3e-3f;
    optim::Adam opt(model.parameters(), ao);
    trainers::FlowMatchingConfig cfg;
    cfg.steps = 2500;
    cfg.batch = 512;
    trainers::DataSource target = [&](int64_t n, Generator& g) { return Tensor::normal({n, 1}, g, mu, sigma); };
    trainers::FlowMatchingTrainer tr(model, opt, target, cfg);
    tr.train();
    NoGradGuard ng;
    // v*(x, t) = mu + (t sigma^2 - (1 - t)) / ((1 - t)^2 + t^2 sigma^2) (x - t mu)
    double worst = 0;
    for (float t : {0.1f, 0.5f, 0.9f}) {
        const float s = std::sqrt((1 - t) * (1 - t) + t * t * sigma * sigma);
        for (float z : {-1.f, 0.f, 1.f}) {
            const float x = t * mu + s * z;  // typical points of x_t
            const float vstar = mu + (t * sigma * sigma - (1 - t)) / (s * s) * (x - t * mu);
            const float v = model.forward(Tensor::full({1, 1}, x), Tensor::full({1}, t)).item();
            worst = std::max(worst, double(std::fabs(v - vstar)));
        }
    }
    MESSAGE("largest |v - v*| at typical points: " << worst);
    CHECK(worst < 0.25);
    Generator ng2(9);
    samplers::SamplerOptions so;
    so.steps = 50;
    Tensor x1 = samplers::sample("rk4", [&](const Tensor& x, const Tensor& t) { return model.forward(x, t); },
                                 Tensor::normal({20000, 1}, ng2), so).x;
    CHECK(mean_of(x1) == doctest::Approx(mu).epsilon(0.03));
    CHECK(std_of(x1) == doctest::Approx(sigma).epsilon(0.1));
}

TEST_CASE("reflow straightens: lower straightness and better 1-step samples than 1-RF") {
    nn::VelocityMLPConfig mc;
    mc.hidden = 64;
    optim::AdamOptions ao;
    ao.lr = 3e-3f;
    trainers::FlowMatchingConfig cfg;
    cfg.steps = 700;
    cfg.batch = 256;
    Generator init(0);
    nn::VelocityMLP rf1(mc, init);
    optim::Adam opt1(rf1.parameters(), ao);
    trainers::FlowMatchingTrainer t1(rf1, opt1, toy("8gaussians"), cfg);
    t1.train();

    trainers::PairGenerationOptions po;
    po.sampler = "rk4";
    po.sampler_options.steps = 20;
    Generator pg(11);
    trainers::Pairs pairs =
        trainers::generate_pairs([&](const Tensor& x, const Tensor& t) { return rf1.forward(x, t); }, {2}, 8000, pg, po);
    nn::VelocityMLP rf2(mc, init);
    rf2.load_state_dict(rf1.state_dict());  // initialised from the teacher
    optim::Adam opt2(rf2.parameters(), ao);
    trainers::FlowMatchingTrainer t2(rf2, opt2, trainers::stored_pairs(pairs.z0, pairs.z1), cfg);
    t2.train();

    NoGradGuard ng;
    auto measure = [&](nn::VelocityMLP& m, double* straight) {
        samplers::VelocityField v = [&](const Tensor& x, const Tensor& t) { return m.forward(x, t); };
        Generator noise(21, 2), data_gen(21, 3), proj(21, 4);
        Tensor x0 = Tensor::normal({2000, 2}, noise);
        samplers::SamplerOptions o;
        o.steps = 100;
        o.record_trajectory = true;
        samplers::SampleResult r = samplers::sample("euler", v, x0, o);
        std::vector<float> times;
        for (size_t i = 0; i < r.trajectory.size(); ++i) times.push_back(float(i) / (r.trajectory.size() - 1));
        *straight = straightness(r.trajectory, times);
        samplers::SamplerOptions one;
        one.steps = 1;
        Tensor x1 = samplers::sample("euler", v, x0, one).x;
        return sliced_wasserstein(x1, data::sample_toy("8gaussians", 2000, data_gen), proj);
    };
    double s1 = 0, s2 = 0;
    const double sw1 = measure(rf1, &s1), sw2 = measure(rf2, &s2);
    MESSAGE("1-RF: straightness " << s1 << ", 1-step SW2 " << sw1 << "; 2-RF: straightness " << s2 << ", 1-step SW2 " << sw2);
    CHECK(s2 < 0.5 * s1);
    CHECK(sw2 < 0.8 * sw1);
}

TEST_CASE("all_finite: NaN and infinity anywhere, in any tensor, are found") {
    CHECK(trainers::all_finite({}));
    CHECK(trainers::all_finite({Tensor::ones({3}), Tensor::zeros({0}), Tensor()}));
    CHECK_FALSE(trainers::all_finite({Tensor::ones({3}), Tensor::from_vector({1.f, NAN}, {2})}));
    CHECK_FALSE(trainers::all_finite({Tensor::from_vector({INFINITY}, {1})}));
    CHECK_FALSE(trainers::all_finite({Tensor::from_vector({-INFINITY, 0.f}, {2})}));
}

TEST_CASE("an update that overflows the weights stops training: finite loss and grads are not enough") {
    Generator init(5);
    nn::VelocityMLPConfig mc;
    mc.hidden = 8;
    mc.depth = 1;
    nn::VelocityMLP model(mc, init);
    optim::SgdOptions so;
    so.lr = 3e38f;  // finite, but lr * grad overflows
    optim::Sgd opt(model.parameters(), so);
    trainers::FlowMatchingConfig cfg;
    cfg.steps = 3;
    cfg.batch = 16;
    trainers::DataSource big = [](int64_t n, Generator& g) { return mul(data::sample_toy("moons", n, g), 1000.f); };
    trainers::FlowMatchingTrainer tr(model, opt, big, cfg);
    CHECK(tr.resumed_from() == -1);
    std::string what;
    try {
        tr.step();
    } catch (const trainers::NonFiniteError& e) {
        what = e.what();
    }
    CHECK(what.find("non-finite weights") != std::string::npos);
    CHECK(what.find("step 1") != std::string::npos);
    CHECK_FALSE(trainers::all_finite(model.parameters()));
}

TEST_CASE("restore records the step it resumed from") {
    Generator init(6);
    nn::VelocityMLPConfig mc;
    mc.hidden = 8;
    nn::VelocityMLP model(mc, init);
    optim::Adam opt(model.parameters());
    trainers::FlowMatchingConfig cfg;
    cfg.steps = 4;
    cfg.batch = 8;
    trainers::FlowMatchingTrainer tr(model, opt, toy("moons"), cfg);
    tr.train();
    const io::Checkpoint c = tr.checkpoint("{}");
    trainers::FlowMatchingTrainer again(model, opt, toy("moons"), cfg);
    again.restore(c);
    CHECK(again.resumed_from() == 4);
}
