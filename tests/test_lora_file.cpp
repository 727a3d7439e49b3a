// LoRA adapters on disk: PEFT directories and kohya files round trip and reload (also the
// PiSSA/LoRA-GA export relative to the original weights), and hostile adapter files (0-D, empty or
// mismatched tensors, bad configs) are refused naming the file and the key.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <rflow/autograd.hpp>
#include <rflow/io/safetensors.hpp>
#include <rflow/nn/conv.hpp>
#include <rflow/nn/lora.hpp>
#include <rflow/nn/lora_file.hpp>
#include <rflow/nn/mlp.hpp>
#include <rflow/optim/adam.hpp>

#include "gradcheck.hpp"

using namespace rflow;
using nn::LoRAConfig;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;

namespace {

std::string scratch(const std::string& name) {
    const std::filesystem::path d = std::filesystem::temp_directory_path() / ("rflow_test_lora_" + std::to_string(::getpid())) / name;
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d.parent_path());
    return d.string();
}

std::vector<std::string> linear_names(nn::Module& m) {
    std::vector<std::string> out;
    for (auto& [name, mod] : m.named_modules())
        if (dynamic_cast<nn::Linear*>(mod)) out.push_back(name);
    return out;
}

}  // namespace

TEST_CASE("PEFT adapter directories round trip; weights scale; unmatched keys are reported") {
    Generator gen(61);
    nn::MLP net(4, {8, 8}, 2, gen);
    const auto names = linear_names(net);
    const nn::NamedTensors base_state = net.state_dict();
    nn::LoRATargets t;
    t.targets = {names[0], names[2]};
    nn::LoRAConfig c;
    c.rank = 2;
    c.alpha = 4.f;
    Tensor x = rand_tensor({5, 4}, 62), base_out, adapted_out;
    {
        NoGradGuard ng;
        base_out = net.forward(x);
    }
    const std::string dir = scratch("peft");
    {
        nn::LoRAModel lm(net, t, c, gen);
        for (auto& [name, a] : lm.adapters()) a->B().copy_(rand_tensor(a->B().shape(), 63));
        NoGradGuard ng;
        adapted_out = net.forward(x);
        nn::save_lora_adapter(dir, lm, t, c, "base.safetensors");
    }
    std::ifstream cfg(dir + "/adapter_config.json");
    const std::string text((std::istreambuf_iterator<char>(cfg)), {});
    CHECK(text.find("\"peft_type\": \"LORA\"") != std::string::npos);
    CHECK(text.find("\"target_modules\"") != std::string::npos);
    const io::SafetensorsFile f = io::read_safetensors(dir + "/adapter_model.safetensors");
    CHECK(f.find("base_model.model." + names[0] + ".lora_A.weight") != nullptr);

    // a fresh copy of the base model gets the same outputs from the loaded adapter
    Generator g2(99);
    nn::MLP fresh(4, {8, 8}, 2, g2);
    fresh.load_state_dict(base_state);
    {
        auto lm = nn::load_lora_adapter(dir, fresh);
        NoGradGuard ng;
        CHECK(max_abs_diff(fresh.forward(x), adapted_out) < 1e-6);
    }
    {  // weight 0.5: half of the output change (the network is non-linear, so compare the first layer)
        auto lm = nn::load_lora_adapter(dir, fresh, 0.5f);
        CHECK(lm->adapters()[0].second->scaling() == doctest::Approx(0.5f * 4.f / 2.f));
    }
    // an extra key that matches no module is reported by name
    io::SafetensorsFile bad = f;
    bad.tensors.emplace_back("base_model.model.nope.lora_A.weight", f.tensors.front().second);
    const std::string bad_dir = scratch("peft_bad");
    std::filesystem::create_directories(bad_dir);
    std::filesystem::copy_file(dir + "/adapter_config.json", bad_dir + "/adapter_config.json");
    io::write_safetensors(bad_dir + "/adapter_model.safetensors", bad);
    CHECK_THROWS_WITH_AS(nn::load_lora_adapter(bad_dir, fresh), doctest::Contains("nope"), Error);
    CHECK_THROWS_WITH_AS(nn::load_lora_adapter(scratch("missing"), fresh), doctest::Contains("missing"), Error);
}

TEST_CASE("kohya files: lora_down / lora_up / alpha on underscore names") {
    Generator gen(71);
    nn::MLP net(4, {8}, 2, gen);
    const auto names = linear_names(net);
    std::string flat = names[0];
    for (char& ch : flat)
        if (ch == '.') ch = '_';
    const Tensor down = rand_tensor({2, 4}, 72), up = rand_tensor({8, 2}, 73);
    io::SafetensorsFile f;
    auto raw = [](const Tensor& tt) {
        const std::vector<float> v = tt.to_vector();
        return io::from_f32(v.data(), tt.shape());
    };
    f.tensors.emplace_back("lora_unet_" + flat + ".lora_down.weight", raw(down));
    f.tensors.emplace_back("lora_unet_" + flat + ".lora_up.weight", raw(up));
    const float alpha = 1.f;
    f.tensors.emplace_back("lora_unet_" + flat + ".alpha", io::from_f32(&alpha, {}));
    const std::string path = scratch("kohya.safetensors");
    io::write_safetensors(path, f);
    const Tensor x = rand_tensor({3, 4}, 74);
    nn::Linear* layer = nullptr;
    for (auto& [name, mod] : net.named_modules())
        if (name == names[0]) layer = dynamic_cast<nn::Linear*>(mod);
    REQUIRE(layer);
    Tensor expect;
    {
        NoGradGuard ng;  // W x + b + (alpha / r) up down x
        expect = add(linear(x, layer->weight(), layer->bias()), mul(matmul(matmul(x, down.t()), up.t()), alpha / 2.f));
    }
    auto lm = nn::load_lora_adapter(path, net);
    REQUIRE(lm->adapters().size() == 1);
    NoGradGuard ng;
    CHECK(max_abs_diff(layer->forward(x), expect) < 1e-6);
}

TEST_CASE("PiSSA and LoRA-GA adapters are exported relative to the original weights") {
    for (const char* init : {"pissa", "lora-ga"}) {
        CAPTURE(init);
        Generator gen(81);
        nn::MLP net(6, {8}, 6, gen);
        nn::NamedTensors original;
        for (const auto& [k, v] : net.state_dict()) original.emplace_back(k, v.clone());  // state_dict aliases
        const auto names = linear_names(net);
        nn::LoRATargets t;
        t.targets = {names[0]};
        nn::LoRAConfig c;
        c.rank = 2;
        c.init = init;
        const Tensor x = rand_tensor({4, 6}, 82);
        Tensor tuned;
        const std::string dir = scratch(std::string("export_") + init);
        {
            nn::LoRAModel lm(net, t, c, gen);
            nn::LoRA& a = *lm.adapters()[0].second;
            if (std::string(init) == "lora-ga") a.init_lora_ga(rand_tensor({8, 6}, 83));
            // "training": move both factors away from their init
            a.A().copy_(add(a.A(), rand_tensor(a.A().shape(), 84, -0.1f, 0.1f)));
            a.B().copy_(add(a.B(), rand_tensor(a.B().shape(), 85, -0.1f, 0.1f)));
            NoGradGuard ng;
            tuned = net.forward(x);
            nn::save_lora_adapter(dir, lm, t, c);
        }
        Generator g2(1);
        nn::MLP fresh(6, {8}, 6, g2);
        fresh.load_state_dict(original);  // the original W0, not the corrected one
        auto lm = nn::load_lora_adapter(dir, fresh);
        CHECK(lm->adapters()[0].second->config().rank == 4);  // [B, -B0] [A; A0]
        NoGradGuard ng;
        CHECK(max_abs_diff(fresh.forward(x), tuned) < 1e-5);
    }
}

TEST_CASE("a conv model's PiSSA adapter exported relative to W0 reloads onto the original weights") {
    Generator gen(101);
    nn::Conv2d conv(2, 6, 3, gen, 1, 1);
    nn::NamedTensors original;
    for (const auto& [k, v] : conv.state_dict()) original.emplace_back(k, v.clone());
    nn::LoRATargets t;
    t.targets = {"re:.*"};
    nn::LoRAConfig c;
    c.rank = 2;
    c.init = "pissa";
    const Tensor x = rand_tensor({1, 2, 5, 5}, 102);
    Tensor tuned;
    const std::string dir = scratch("conv_export");
    // a wrapper module so the conv has a name
    struct Net : nn::Module {
        std::shared_ptr<nn::Conv2d> c;
        explicit Net(std::shared_ptr<nn::Conv2d> conv) : c(register_module("conv", std::move(conv))) {}
        Tensor forward(const Tensor& in) override { return c->forward(in); }
    };
    Generator g2(7);
    auto conv_a = std::make_shared<nn::Conv2d>(2, 6, 3, g2, 1, 1);
    conv_a->load_state_dict(original);
    Net net(conv_a);
    {
        nn::LoRAModel lm(net, t, c, gen);
        nn::LoRA& a = *lm.adapters()[0].second;
        a.A().copy_(add(a.A(), rand_tensor(a.A().shape(), 103, -0.1f, 0.1f)));
        NoGradGuard ng;
        tuned = net.forward(x);
        nn::save_lora_adapter(dir, lm, t, c);
    }
    auto conv_b = std::make_shared<nn::Conv2d>(2, 6, 3, g2, 1, 1);
    conv_b->load_state_dict(original);
    Net fresh(conv_b);
    auto lm = nn::load_lora_adapter(dir, fresh);
    NoGradGuard ng;
    CHECK(max_abs_diff(fresh.forward(x), tuned) < 1e-5);
}

TEST_CASE("kohya files with 0-D, empty or mismatched tensors are refused, naming the file and the key") {
    Generator gen(91);
    nn::MLP net(4, {8}, 2, gen);
    std::string flat = linear_names(net)[0];
    for (char& ch : flat)
        if (ch == '.') ch = '_';
    const std::string down_key = "lora_" + flat + ".lora_down.weight", up_key = "lora_" + flat + ".lora_up.weight",
                      alpha_key = "lora_" + flat + ".alpha";
    const std::vector<float> zeros(64, 0.f);
    const auto tensor = [&](std::vector<int64_t> shape) { return io::from_f32(zeros.data(), std::move(shape)); };
    const std::string path = scratch("kohya_bad.safetensors");
    const auto error_with = [&](std::vector<std::pair<std::string, io::RawTensor>> tensors) {
        io::SafetensorsFile f;
        f.tensors = std::move(tensors);
        io::write_safetensors(path, f);
        try {
            nn::load_lora_adapter(path, net);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("<no error>");
    };
    const auto expect = [&](const std::string& msg, const std::string& key, const std::string& phrase) {
        INFO(msg);
        CHECK(msg.find(path) != std::string::npos);
        CHECK(msg.find(key) != std::string::npos);
        CHECK(msg.find(phrase) != std::string::npos);
    };
    expect(error_with({{down_key, tensor({})}, {up_key, tensor({8, 1})}}), down_key, "lora_down has shape []");
    expect(error_with({{down_key, tensor({1, 4})}, {up_key, tensor({})}}), up_key, "lora_up has shape []");
    expect(error_with({{down_key, tensor({0, 4})}, {up_key, tensor({8, 0})}}), down_key, "LoRA rank >= 1");
    expect(error_with({{down_key, tensor({2, 4})}, {up_key, tensor({8, 3})}}), up_key, "does not fit");
    expect(error_with({{down_key, tensor({1, 4})}, {up_key, tensor({8, 1})}, {alpha_key, tensor({0})}}), alpha_key,
           "alpha has shape [0]");
    expect(error_with({{down_key, tensor({1, 4})}, {up_key, tensor({8, 1})}, {alpha_key, tensor({2})}}), alpha_key,
           "expected one scalar");
    const float inf = INFINITY;
    expect(error_with({{down_key, tensor({1, 4})}, {up_key, tensor({8, 1})}, {alpha_key, io::from_f32(&inf, {})}}),
           alpha_key, "finite");
    std::vector<float> with_nan(8, 0.f);
    with_nan[5] = NAN;
    expect(error_with({{down_key, tensor({1, 4})}, {up_key, io::from_f32(with_nan.data(), {8, 1})}}), up_key,
           "element 5 is nan");
    const float one = 1.f;  // a one-element alpha of shape [1] is as good as a scalar
    CHECK(error_with({{down_key, tensor({1, 4})}, {up_key, tensor({8, 1})}, {alpha_key, io::from_f32(&one, {1})}}) ==
          "<no error>");
}

TEST_CASE("PEFT configs: a target_modules regex that does not compile names the file and the key") {
    Generator gen(92);
    nn::MLP net(4, {8}, 2, gen);
    const std::string dir = scratch("peft_bad_regex");
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/adapter_config.json") << R"({"peft_type": "LORA", "r": 1, "target_modules": "net(("})";
    std::ofstream(dir + "/adapter_model.safetensors") << "";
    CHECK_THROWS_WITH_AS(nn::load_lora_adapter(dir, net),
                         doctest::Contains("adapter_config.json: target_modules: "), Error);
    std::ofstream(dir + "/adapter_config.json") << R"({"peft_type": 7, "r": 1, "target_modules": ["net.0"]})";
    CHECK_THROWS_WITH_AS(nn::load_lora_adapter(dir, net), doctest::Contains("adapter_config.json"), Error);
    std::ofstream(dir + "/adapter_config.json") << "{\"r\": 1, \"x\": " << std::string(100, '[') << std::string(100, ']') << "}";
    CHECK_THROWS_WITH_AS(nn::load_lora_adapter(dir, net), doctest::Contains("nested deeper than 64"), Error);
    // fuzz findings: a rank that is a huge float (UB when cast), a regex nested deep enough to
    // overflow std::regex's recursive compiler
    std::ofstream(dir + "/adapter_config.json") << R"({"r": 1e100, "target_modules": ["net.0"]})";
    CHECK_THROWS_WITH_AS(nn::load_lora_adapter(dir, net), doctest::Contains("adapter_config.json: r is"), Error);
    std::ofstream(dir + "/adapter_config.json") << R"({"r": 2, "rank_pattern": {"net.0": -3}, "target_modules": ["net.0"]})";
    CHECK_THROWS_WITH_AS(nn::load_lora_adapter(dir, net), doctest::Contains("rank_pattern.net.0"), Error);
    std::ofstream(dir + "/adapter_config.json")
        << "{\"r\": 1, \"target_modules\": \"" << std::string(20000, '(') << std::string(20000, ')') << "\"}";
    CHECK_THROWS_WITH_AS(nn::load_lora_adapter(dir, net), doctest::Contains("at most 1024"), Error);
}
