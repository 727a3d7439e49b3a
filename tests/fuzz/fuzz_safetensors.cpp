// libFuzzer target: the safetensors reader (rflow::io::parse_safetensors, the in-memory entry behind
// read_safetensors). Accepted files must also convert to float (to_f32) and survive a round trip:
// serialize_safetensors + parse_safetensors gives the same metadata and tensors.
#include <cstdint>
#include <cstring>

#include "fuzz_util.hpp"
#include "rflow/error.hpp"
#include "rflow/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace rflow::io;
    SafetensorsFile f;
    try {
        f = parse_safetensors(data, size, "fuzz.safetensors");
    } catch (const rflow::Error&) {
        return 0;
    }
    for (const auto& [name, t] : f.tensors) {
        const std::vector<float> v = to_f32(t);  // rflow::Error not allowed on an accepted tensor
        size_t n = 1;
        for (int64_t d : t.shape) n *= static_cast<size_t>(d);
        if (v.size() != n) fuzz::property_failed("to_f32 size differs from the shape product");
    }
    std::vector<uint8_t> bytes;
    try {
        bytes = serialize_safetensors(f);
    } catch (const rflow::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        fuzz::property_failed("serialize_safetensors rejects what parse_safetensors accepted");
    }
    const SafetensorsFile g = parse_safetensors(bytes.data(), bytes.size(), "roundtrip");
    if (g.metadata != f.metadata) fuzz::property_failed("metadata changed in a round trip");
    if (g.tensors.size() != f.tensors.size()) fuzz::property_failed("tensor count changed in a round trip");
    for (size_t i = 0; i < f.tensors.size(); ++i) {
        const auto& a = f.tensors[i];
        const auto& b = g.tensors[i];
        if (a.first != b.first || a.second.dtype != b.second.dtype || a.second.shape != b.second.shape ||
            a.second.bytes != b.second.bytes)
            fuzz::property_failed("a tensor changed in a round trip");
    }
    return 0;
}
