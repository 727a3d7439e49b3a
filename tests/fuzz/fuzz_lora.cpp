// libFuzzer target: LoRA adapter loading (rflow::nn::load_lora_adapter) in both layouts, onto a
// small MLP (Linear 4->8, SiLU, Linear 8->8, SiLU, Linear 8->2).
//
// Input layout: if it contains the separator line "\n#SAFETENSORS#\n", the bytes before it are a
// PEFT adapter_config.json and the bytes after it adapter_model.safetensors, written into a
// scratch directory that is loaded as a PEFT adapter; otherwise the whole input is a kohya/diffusers
// .safetensors file.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "fuzz_util.hpp"
#include "rflow/error.hpp"
#include "rflow/nn/lora_file.hpp"
#include "rflow/nn/mlp.hpp"
#include "rflow/philox.hpp"

namespace {
constexpr char kSep[] = "\n#SAFETENSORS#\n";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    rflow::Generator gen(5);
    rflow::nn::MLP model(4, {8, 8}, 2, gen);  // fresh each time: attaching freezes and hooks the model
    const char* begin = reinterpret_cast<const char*>(data);
    const std::string all(begin, size);
    const size_t sep = all.find(kSep);
    std::string path;
    if (sep != std::string::npos) {
        const size_t st = sep + std::strlen(kSep);
        const std::string dir = fuzz::scratch_dir() + "/peft";
        std::filesystem::create_directories(dir);
        fuzz::write_temp("peft/adapter_config.json", data, sep);
        fuzz::write_temp("peft/adapter_model.safetensors", data + st, size - st);
        path = dir;
    } else {
        path = fuzz::write_temp("kohya.safetensors", data, size);
    }
    try {
        auto lora = rflow::nn::load_lora_adapter(path, model, 0.5f);
    } catch (const rflow::Error&) {
    }
    return 0;
}
