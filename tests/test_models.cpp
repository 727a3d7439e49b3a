// The model registry (rflow/models.hpp): configs survive JSON both ways, a checkpoint loads back
// into the same network (its EMA weights when asked), and a bad config is refused naming the
// file and the key before anything is allocated.
#include <doctest/doctest.h>

#include <string>

#include "gradcheck.hpp"
#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/safetensors.hpp"
#include "rflow/generate.hpp"
#include "rflow/models.hpp"
#include "temp_dir.hpp"

using namespace rflow;
using rflow::testing::max_abs_diff;

namespace {

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "<no error>";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// v(x, t) of a model on fixed inputs of its sample shape
Tensor probe(nn::VelocityModel& m, const Shape& sample_shape) {
    NoGradGuard ng;
    Generator g(5);
    Shape s{3};
    s.insert(s.end(), sample_shape.begin(), sample_shape.end());
    return m.forward(Tensor::normal(s, g), Tensor::from_vector({0.1f, 0.5f, 0.9f}, {3}));
}

// Random weights everywhere (a fresh U-Net's output layer is zero, so its v would be 0 for any weights)
void randomize(nn::Module& m, uint64_t seed) {
    NoGradGuard ng;
    Generator g(seed);
    for (Tensor& p : m.parameters()) p.copy_(Tensor::normal(p.shape(), g, 0.f, 0.2f));
}

}  // namespace

TEST_CASE("model configs survive JSON both ways") {
    nn::VelocityMLPConfig mc;
    mc.data_dim = 3, mc.hidden = 17, mc.depth = 2, mc.activation = "gelu", mc.time_embedding = "fourier", mc.embedding_dim = 8;
    const nn::VelocityMLPConfig mb = velocity_mlp_config_from_json(model_config_json(mc), "t");
    CHECK(mb.data_dim == 3);
    CHECK(mb.hidden == 17);
    CHECK(mb.depth == 2);
    CHECK(mb.activation == "gelu");
    CHECK(mb.time_embedding == "fourier");
    CHECK(mb.embedding_dim == 8);

    nn::UNetConfig uc;
    uc.base_channels = 8, uc.channel_mults = {1, 3}, uc.attention_levels = {1}, uc.num_classes = 10, uc.dropout = 0.25f;
    const nn::UNetConfig ub = unet_config_from_json(model_config_json(uc), "t");
    CHECK(ub.channel_mults == uc.channel_mults);
    CHECK(ub.attention_levels == uc.attention_levels);
    CHECK(ub.num_classes == 10);
    CHECK(ub.dropout == 0.25f);

    nn::DiTConfig dc;
    dc.attention = "gqa", dc.kv_heads = 2, dc.rope = "2d", dc.rope_dim = 0, dc.dim = 32, dc.heads = 4;
    const nn::DiTConfig db = dit_config_from_json(model_config_json(dc), "t");
    CHECK(db.attention == "gqa");
    CHECK(db.kv_heads == 2);
    CHECK(db.rope == "2d");
    CHECK(db.dim == 32);

    nn::LoRATargets targets;
    targets.targets = {"net.*"};
    targets.rank_pattern = {{"net.0", 2}};
    nn::LoRAConfig lc;
    lc.rank = 4, lc.alpha = 8.f, lc.dora = true;
    nn::LoRATargets t2;
    nn::LoRAConfig l2;
    lora_config_from_json(lora_config_json(targets, lc), "t", t2, l2);
    CHECK(t2.targets == targets.targets);
    CHECK(t2.rank_pattern == targets.rank_pattern);
    CHECK(l2.rank == 4);
    CHECK(l2.alpha == 8.f);
    CHECK(l2.dora);
}

TEST_CASE("load_model rebuilds each kind from its checkpoint, with the EMA weights when asked") {
    testing::TempDir dir;
    nn::VelocityMLPConfig mc;
    mc.hidden = 16, mc.depth = 2;
    nn::UNetConfig uc;
    uc.image_size = 8, uc.base_channels = 8, uc.channel_mults = {1, 2}, uc.attention_levels = {1}, uc.res_blocks = 1;
    uc.groups = 4, uc.heads = 2;
    nn::DiTConfig dc;
    dc.image_size = 8, dc.patch = 4, dc.dim = 16, dc.depth = 1, dc.heads = 2;
    for (const std::string& config : {model_config_json(mc), model_config_json(uc), model_config_json(dc)}) {
        Generator init(11);
        LoadedModel built = build_model(config, init);
        randomize(*built.model, 1);
        CAPTURE(built.kind);
        CHECK(built.is_image == (built.kind != "velocity_mlp"));
        io::Checkpoint c;
        c.model = built.model->state_dict();
        c.step = 42;
        c.config = R"({"label": "x", "model_config": )" + config + "}";
        // an EMA shadow per parameter: here the weights times two
        const std::vector<Tensor> params = built.model->parameters();
        for (size_t i = 0; i < params.size(); ++i)
            c.optimizer.emplace_back("ema.shadow." + std::to_string(i), mul(params[i].detach(), 2.f));
        const std::string path = dir.file(built.kind + ".safetensors");
        io::save_checkpoint(path, c);

        LoadedModel raw = load_model(path, false);
        CHECK(raw.kind == built.kind);
        CHECK(raw.step == 42);
        CHECK(raw.path == path);
        CHECK(raw.sample_shape == built.sample_shape);
        CHECK(contains(raw.config, "\"label\""));
        const Tensor v = probe(*built.model, built.sample_shape);
        CHECK(max_abs_diff(v, mul(v, 0.f)) > 0.01);  // not trivially zero
        CHECK(max_abs_diff(probe(*raw.model, raw.sample_shape), v) == 0.0);

        LoadedModel ema = load_model(path, true);
        const std::vector<Tensor> p = ema.model->parameters();
        REQUIRE(p.size() == params.size());
        for (size_t i = 0; i < p.size(); ++i) CHECK(max_abs_diff(p[i], mul(params[i].detach(), 2.f)) == 0.0);
    }
}

TEST_CASE("bad model configs are refused naming the file and the key") {
    Generator init(0);
    auto build = [&](const std::string& config) { return error_of([&] { build_model(config, init, "m.json"); }); };
    CHECK(contains(build("[1, 2]"), "m.json: model config is not a JSON object"));
    CHECK(contains(build(R"({"model": "transformer9"})"), "unknown model 'transformer9'"));
    nn::VelocityMLPConfig mc;
    std::string j = model_config_json(mc);
    CHECK(contains(build(j.replace(j.find("\"hidden\""), 8, "\"hiddn\"")), "m.json: model config lacks 'hidden'"));
    CHECK(contains(build(R"({"model":"velocity_mlp","data_dim":2,"hidden":2.5,"depth":1,"activation":"silu","time_embedding":"none","embedding_dim":0})"),
                   "key 'hidden' is 2.5 (expected an integer)"));
    // sizes in range one by one, but about 16384^2 * 256 parameters together: refused before allocating
    CHECK(contains(build(R"({"model":"velocity_mlp","data_dim":2,"hidden":16384,"depth":256,"activation":"silu","time_embedding":"none","embedding_dim":0})"),
                   "parameters (at most"));
    nn::UNetConfig uc;
    std::string u = model_config_json(uc);
    CHECK(contains(build(u.replace(u.find("\"channel_mults\":[1,2,2]"), 23, "\"channel_mults\":[1,99]")),
                   "channel_mults[1]' is 99"));

    testing::TempDir dir;
    io::Checkpoint c;
    c.config = R"({"label": "no model here"})";
    io::save_checkpoint(dir.file("c.safetensors"), c);
    CHECK(contains(error_of([&] { load_model(dir.file("c.safetensors")); }), "c.safetensors: config lacks 'model_config'"));
    CHECK(contains(error_of([&] { load_model(dir.file("missing.safetensors")); }), "missing.safetensors"));
    CHECK(contains(error_of([&] { load_classifier(dir.file("c.safetensors")); }), "not a classifier"));
}

TEST_CASE("plain weight files: export in F32/F16/BF16 and import back, also from PyTorch-style names") {
    testing::TempDir dir;
    nn::UNetConfig uc;
    uc.image_size = 8, uc.base_channels = 8, uc.channel_mults = {1, 2}, uc.attention_levels = {1}, uc.res_blocks = 1;
    uc.groups = 4, uc.heads = 2;
    const std::string config = model_config_json(uc);
    Generator init(4);
    LoadedModel m = build_model(config, init);
    randomize(*m.model, 2);
    const Tensor v = probe(*m.model, m.sample_shape);
    REQUIRE(max_abs_diff(v, mul(v, 0.f)) > 0.1);  // v is not trivially zero
    for (auto [dtype, tol] : {std::pair{io::DType::F32, 0.0}, {io::DType::F16, 2e-3}, {io::DType::BF16, 1.5e-2}}) {
        const std::string path = dir.file(std::string(io::dtype_name(dtype)) + ".safetensors");
        export_weights(path, *m.model, config, dtype);
        const io::SafetensorsFile f = io::read_safetensors(path);
        CHECK(f.tensors.front().second.dtype == dtype);
        LoadedModel back = import_weights(path);  // the config travels in the metadata
        CHECK(back.kind == "unet");
        const double diff = max_abs_diff(probe(*back.model, back.sample_shape), v);
        MESSAGE(std::string(io::dtype_name(dtype)) << ": max |v - v_imported| = " << diff);
        CHECK(diff <= tol);
    }
    // a PyTorch state_dict of a DataParallel-wrapped twin: "module." before every name, no metadata
    io::SafetensorsFile plain;
    for (const auto& [name, t] : m.model->state_dict()) {
        const Tensor c = t.contiguous();
        plain.tensors.emplace_back("module." + name, io::from_f32(c.data(), c.shape(), io::DType::F32));
    }
    io::write_safetensors(dir.file("torch.safetensors"), plain);
    CHECK(contains(error_of([&] { import_weights(dir.file("torch.safetensors")); }), "no 'model_config' metadata"));
    LoadedModel imported = import_weights(dir.file("torch.safetensors"), config);
    CHECK(max_abs_diff(probe(*imported.model, imported.sample_shape), v) == 0.0);
    // the wrong network for the weights: the file and the first mismatch are named
    uc.base_channels = 16;
    const std::string wrong = error_of([&] { import_weights(dir.file("torch.safetensors"), model_config_json(uc)); });
    CHECK_MESSAGE(contains(wrong, "torch.safetensors: "), wrong);
    CHECK_MESSAGE(contains(wrong, "has shape [4], the module expects [8]"), wrong);
    plain.tensors.pop_back();
    io::write_safetensors(dir.file("short.safetensors"), plain);
    CHECK(contains(error_of([&] { import_weights(dir.file("short.safetensors"), config); }), "has no entry"));
    CHECK(contains(error_of([&] { export_weights(dir.file("x.safetensors"), *m.model, config, io::DType::I32); }),
                   "F32, F16 or BF16"));
}

TEST_CASE("generate: a seed gives the same samples, and bad requests are refused") {
    nn::VelocityMLPConfig mc;
    mc.hidden = 16, mc.depth = 1;
    Generator init(1);
    LoadedModel m = build_model(model_config_json(mc), init);
    randomize(*m.model, 3);
    GenerateOptions o;
    o.method = "rk4";
    o.sampler.steps = 5;
    o.record_trajectory = true;
    const Generated a = generate(*m.model, m.sample_shape, 10, 7, o), b = generate(*m.model, m.sample_shape, 10, 7, o);
    CHECK(a.x.shape() == Shape{10, 2});
    CHECK(a.nfe == 20);
    CHECK(a.trajectory.size() == 6);
    CHECK(max_abs_diff(a.x, b.x) == 0.0);
    CHECK(max_abs_diff(a.x, generate(*m.model, m.sample_shape, 10, 8, o).x) > 0.01);
    o.labels = {0, 1};
    CHECK_THROWS_WITH_AS(generate(*m.model, m.sample_shape, 10, 7, o), doctest::Contains("2 labels for 10 samples"), Error);
    o.labels.clear();
    o.prompt = "a sneaker";
    CHECK_THROWS_WITH_AS(generate(*m.model, m.sample_shape, 10, 7, o), doctest::Contains("text-conditioned"), Error);
    o.prompt.clear();
    o.method = "leapfrog9";
    CHECK_THROWS_AS(generate(*m.model, m.sample_shape, 10, 7, o), Error);
}
