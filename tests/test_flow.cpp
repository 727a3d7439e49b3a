// End to end on toy data: datasets and metrics, checkpoint round trip, bit-exact resume, and a
// small flow-matching run whose samples must end up closer to the data than the noise was.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <filesystem>
#include <unistd.h>

#include <rflow/autograd.hpp>
#include <rflow/data/toy2d.hpp>
#include <rflow/io/checkpoint.hpp>
#include <rflow/metrics.hpp>
#include <rflow/nn/velocity_mlp.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/samplers/euler.hpp>
#include <rflow/trainers/flow_matching.hpp>

#include "gradcheck.hpp"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("rflow_test_flow_" + std::to_string(getpid()));
    fs::create_directories(dir);
    return (dir / name).string();
}

trainers::DataSource toy(const std::string& name) {
    return [name](int64_t n, Generator& g) { return data::sample_toy(name, n, g); };
}

nn::VelocityMLPConfig small_model() {
    nn::VelocityMLPConfig c;
    c.hidden = 64;
    c.depth = 3;
    return c;
}

std::vector<float> flat_params(const nn::Module& m) {
    std::vector<float> all;
    for (const Tensor& p : m.parameters()) {
        auto v = p.to_vector();
        all.insert(all.end(), v.begin(), v.end());
    }
    return all;
}

}  // namespace

TEST_CASE("toy datasets: every registered one is reproducible from its seed and bounded") {
    for (const std::string& name : data::toy_dataset_names()) {
        CAPTURE(name);
        Generator a(3), b(3);
        Tensor x = data::sample_toy(name, 500, a);
        CHECK(x.shape() == Shape{500, 2});
        CHECK(x.to_vector() == data::sample_toy(name, 500, b).to_vector());
        CHECK(max(abs(x)).item() < 8.f);
        CHECK(std::sqrt(mean(square(x)).item()) > 0.5f);  // not collapsed
    }
    Generator g(0);
    CHECK_THROWS_WITH_AS(data::sample_toy("9gaussians", 4, g), doctest::Contains("8gaussians"), Error);
}

TEST_CASE("metrics: zero for identical clouds, larger for shifted ones") {
    Generator g(1), p(2);
    Tensor a = data::sample_toy("8gaussians", 400, g);
    CHECK(sliced_wasserstein(a, a, p) == doctest::Approx(0.0));
    Tensor shifted = add(a, 1.f);
    Generator p2(2);
    const double sw = sliced_wasserstein(a, shifted, p2);
    CHECK(sw > 0.5);
    CHECK(sw < 1.5);  // a shift by (1, 1) projects to at most sqrt(2)
    CHECK(mmd_rbf(a, shifted) > mmd_rbf(a, data::sample_toy("8gaussians", 400, g)));
}

TEST_CASE("checkpoint: round trip, metadata and clear errors") {
    io::Checkpoint c;
    c.model = {{"w", testing::rand_tensor({3, 2}, 1)}, {"b", testing::rand_tensor({2}, 2)}};
    c.optimizer = {{"adam.m.0.0", testing::rand_tensor({3, 2}, 3)}};
    c.rng = {7, 1, 1234};
    c.step = 42;
    c.config = R"({"model":"velocity_mlp"})";
    c.metadata = {{"note", "hello"}};
    const std::string path = temp_path("ckpt.safetensors");
    io::save_checkpoint(path, c);
    io::Checkpoint r = io::load_checkpoint(path);
    CHECK(r.step == 42);
    CHECK(r.rng == c.rng);
    CHECK(r.config == c.config);
    REQUIRE(r.model.size() == 2);
    CHECK(r.model[0].first == "w");
    CHECK(r.model[0].second.to_vector() == c.model[0].second.to_vector());
    CHECK(r.optimizer[0].second.to_vector() == c.optimizer[0].second.to_vector());
    REQUIRE(r.metadata.size() == 1);
    CHECK(r.metadata[0].second == "hello");
    // a weights file is not a checkpoint
    const std::string wpath = temp_path("weights.safetensors");
    io::save_weights(wpath, c.model);
    CHECK(io::load_weights(wpath).size() == 2);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(wpath), doctest::Contains("not an rflow checkpoint"), Error);
    CHECK_THROWS_WITH_AS(io::load_checkpoint(temp_path("missing.safetensors")), doctest::Contains("missing.safetensors"), Error);
}

TEST_CASE("resume: 200 steps straight equal 100 + checkpoint + fresh state + 100, bit for bit") {
    const auto run = [](int64_t steps, const io::Checkpoint* from, io::Checkpoint* save_at_end) {
        Generator init(from ? 999 : 5);  // a resumed run starts from different weights on purpose
        nn::VelocityMLP model(small_model(), init);
        optim::AdamOptions o;
        o.lr = 3e-3f;
        optim::Adam opt(model.parameters(), o);
        trainers::FlowMatchingConfig cfg;
        cfg.steps = steps;
        cfg.batch = 128;
        cfg.seed = 11;
        trainers::FlowMatchingTrainer tr(model, opt, toy("8gaussians"), cfg);
        if (from) tr.restore(*from);
        tr.train();
        if (save_at_end) *save_at_end = tr.checkpoint("{}");
        return flat_params(model);
    };
    const std::vector<float> straight = run(200, nullptr, nullptr);
    io::Checkpoint half;
    run(100, nullptr, &half);
    const std::string path = temp_path("resume.safetensors");
    io::save_checkpoint(path, half);
    const io::Checkpoint loaded = io::load_checkpoint(path);
    CHECK(loaded.step == 100);
    const std::vector<float> resumed = run(200, &loaded, nullptr);
    REQUIRE(resumed.size() == straight.size());
    CHECK(std::memcmp(resumed.data(), straight.data(), straight.size() * sizeof(float)) == 0);
    // and resuming without the optimizer state would not match (the test can fail)
    io::Checkpoint no_opt = loaded;
    for (auto& [n, t] : no_opt.optimizer) t = zeros_like(t);
    const std::vector<float> wrong = run(200, &no_opt, nullptr);
    CHECK(std::memcmp(wrong.data(), straight.data(), straight.size() * sizeof(float)) != 0);
}

TEST_CASE("non-finite loss stops training with a clear error and keeps the parameters") {
    Generator init(1);
    nn::VelocityMLP model(small_model(), init);
    optim::Adam opt(model.parameters());
    trainers::FlowMatchingConfig cfg;
    cfg.steps = 5;
    cfg.batch = 16;
    int64_t calls = 0;
    trainers::DataSource bad = [&](int64_t n, Generator& g) {
        Tensor x = data::sample_toy("8gaussians", n, g);
        return ++calls == 3 ? mul(x, std::numeric_limits<float>::infinity()) : x;
    };
    trainers::FlowMatchingTrainer tr(model, opt, bad, cfg);
    tr.step();
    tr.step();
    const std::vector<float> before = flat_params(model);
    CHECK_THROWS_WITH_AS(tr.step(), doctest::Contains("non-finite loss"), Error);
    CHECK(flat_params(model) == before);
    CHECK(tr.steps_done() == 2);
}

TEST_CASE("toy flow: trained samples are closer to 8 gaussians than the starting noise") {
    Generator init(0);
    nn::VelocityMLP model(small_model(), init);
    optim::AdamOptions o;
    o.lr = 3e-3f;
    optim::Adam opt(model.parameters(), o);
    trainers::FlowMatchingConfig cfg;
    cfg.steps = 800;
    cfg.batch = 256;
    cfg.seed = 0;
    trainers::FlowMatchingTrainer tr(model, opt, toy("8gaussians"), cfg);
    tr.train();
    float early = 0, late = 0;
    for (int i = 0; i < 50; ++i) {
        early += tr.losses()[i];
        late += tr.losses()[tr.losses().size() - 1 - i];
    }
    CHECK(late < 0.8f * early);

    NoGradGuard ng;
    Generator noise_gen(123, 2), data_gen(123, 3);
    Tensor x0 = Tensor::normal({1000, 2}, noise_gen);
    Tensor samples = samplers::sample_euler([&](const Tensor& x, const Tensor& t) { return model.forward(x, t); }, x0, 50);
    Tensor data = data::sample_toy("8gaussians", 1000, data_gen);
    Generator p1(9), p2(9);
    const double sw_noise = sliced_wasserstein(x0, data, p1);
    const double sw_samples = sliced_wasserstein(samples, data, p2);
    MESSAGE("sliced W2 to data: noise " << sw_noise << ", samples " << sw_samples);
    CHECK(sw_samples < 0.4 * sw_noise);
    CHECK(sw_samples < 0.25);
    const double mmd_noise = mmd_rbf(x0, data), mmd_samples = mmd_rbf(samples, data);
    MESSAGE("MMD^2 to data: noise " << mmd_noise << ", samples " << mmd_samples);
    CHECK(mmd_samples < 0.2 * mmd_noise);
}

TEST_CASE("a training run gives the same bits at any thread count") {
    const auto run = [](int threads) {
        set_num_threads(threads);
        Generator init(3);
        nn::VelocityMLP model(nn::VelocityMLPConfig{}, init);  // 3 -> 256 x3 -> 2: GEMMs big enough to split
        optim::Adam opt(model.parameters());
        trainers::FlowMatchingConfig cfg;
        cfg.steps = 10;
        cfg.batch = 512;
        trainers::FlowMatchingTrainer tr(model, opt, toy("8gaussians"), cfg);
        tr.train();
        set_num_threads(0);
        return flat_params(model);
    };
    const std::vector<float> one = run(1), two = run(2), three = run(3);
    CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0);
}

// Reflow pair generation resumed after an interruption (issue 15).
#include <rflow/ops.hpp>
#include <rflow/trainers/reflow.hpp>

TEST_CASE("generate_pairs resumed from its saved chunks equals an uninterrupted run; load_pairs checks the shape") {
    const samplers::VelocityField v = [](const Tensor& x, const Tensor&) { return mul(x, -0.5f); };
    trainers::PairGenerationOptions o;
    o.sampler = "rk4";
    o.sampler_options.steps = 4;
    o.chunk = 10;
    Generator g_whole(3, 5);
    const trainers::Pairs whole = trainers::generate_pairs(v, {2}, 45, g_whole, o);

    // stop after the second chunk, keeping what on_chunk reported, as the CLI's progress file does
    trainers::Pairs saved;
    std::array<uint64_t, 3> state{};
    trainers::PairGenerationOptions stopping = o;
    stopping.on_chunk = [&](const trainers::Pairs& so_far, const std::array<uint64_t, 3>& s) {
        saved = so_far;
        state = s;
    };
    stopping.progress = [](int64_t done, int64_t) { return done < 20; };
    Generator g_first(3, 5);
    CHECK_THROWS(trainers::generate_pairs(v, {2}, 45, g_first, stopping));
    REQUIRE(saved.z0.size(0) == 20);
    Generator g_rest(99, 99);
    g_rest.set_state(state);
    const trainers::Pairs resumed = trainers::generate_pairs(v, {2}, 45, g_rest, o, saved);
    CHECK(resumed.z0.to_vector() == whole.z0.to_vector());
    CHECK(resumed.z1.to_vector() == whole.z1.to_vector());

    const std::string path = (fs::temp_directory_path() / ("rflow_pairs_" + std::to_string(getpid()) + ".safetensors")).string();
    trainers::save_pairs(path, whole);
    CHECK(trainers::load_pairs(path, {2}).z0.size(0) == 45);
    try {
        trainers::load_pairs(path, {3});
        FAIL("a pairs file of another sample shape must be refused");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find(path + ": 'z0' holds samples of shape [2]") != std::string::npos);
    }
    fs::remove(path);
}
