// Checkpoint and weight files on top of the safetensors reader/writer.
#include "rflow/io/checkpoint.hpp"

#include <charconv>
#include <sstream>
#include <string_view>
#include <type_traits>

#include "rflow/error.hpp"
#include "rflow/io/safetensors.hpp"

namespace rflow::io {

TensorList strip_prefix(const TensorList& in, const std::string& prefix) {
    TensorList out;
    for (const auto& [name, t] : in)
        if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), t);
    return out;
}

void append_prefixed(TensorList& out, const std::string& prefix, const TensorList& in) {
    for (const auto& [name, t] : in) out.emplace_back(prefix + name, t);
}


namespace {

constexpr const char* kFormat = "rflow-checkpoint-1";
// Resume state beyond these is corrupt, not a long run: 2^40 steps, 2^62 RNG words.
constexpr int64_t kMaxStep = int64_t{1} << 40;
constexpr uint64_t kMaxRngOffset = uint64_t{1} << 62;

void add_tensors(SafetensorsFile& f, const TensorList& list, const std::string& prefix, DType dtype = DType::F32) {
    for (const auto& [name, t] : list) {
        Tensor c = t.detach().to(Device::cpu).contiguous();
        f.tensors.emplace_back(prefix + name, from_f32(c.data(), c.shape(), dtype));
    }
}

// The tensor stored under `key`; rflow::Error naming the file and the key on a NaN or infinity
// (training never keeps such weights, so the file is corrupt or came from elsewhere).
Tensor to_tensor(const RawTensor& raw, const std::string& path, const std::string& key) {
    return Tensor::from_vector(to_f32_finite(raw, path, key), raw.shape);
}

// A whole-string decimal integer (no sign for unsigned types); false on anything else.
template <class T>
bool parse_integer(std::string_view text, T& out) {
    if (text.empty() || text.front() == '+' || (std::is_unsigned_v<T> && text.front() == '-')) return false;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
    return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

int64_t parse_step(const std::string& text, const std::string& path) {
    int64_t step = 0;
    RFLOW_CHECK(parse_integer(text, step), path << ": metadata 'step' is not an integer: '" << text << "'");
    RFLOW_CHECK(step >= 0 && step <= kMaxStep,
                path << ": metadata 'step' is " << step << " (expected 0 to " << kMaxStep << ")");
    return step;
}

// "seed stream offset": three unsigned decimal integers, the offset a sane word count.
std::array<uint64_t, 3> parse_rng(const std::string& text, const std::string& path) {
    std::array<uint64_t, 3> rng{};
    std::istringstream is(text);
    std::string word, extra;
    for (uint64_t& field : rng)
        RFLOW_CHECK(is >> word && parse_integer(std::string_view(word), field),
                    path << ": metadata 'rng' is '" << text << "' (expected 'seed stream offset', three "
                         << "non-negative integers)");
    RFLOW_CHECK(!(is >> extra), path << ": metadata 'rng' is '" << text << "' (expected 'seed stream offset', three "
                                     << "non-negative integers)");
    RFLOW_CHECK(rng[2] <= kMaxRngOffset,
                path << ": metadata 'rng' offset " << rng[2] << " is out of range (expected at most " << kMaxRngOffset << ")");
    return rng;
}

const std::string* find_meta(const SafetensorsFile& f, const std::string& key) {
    for (const auto& [k, v] : f.metadata)
        if (k == key) return &v;
    return nullptr;
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
    SafetensorsFile f;
    f.metadata.emplace_back("format", kFormat);
    f.metadata.emplace_back("step", std::to_string(ckpt.step));
    f.metadata.emplace_back("rng", std::to_string(ckpt.rng[0]) + " " + std::to_string(ckpt.rng[1]) + " " +
                                       std::to_string(ckpt.rng[2]));
    f.metadata.emplace_back("config", ckpt.config);
    for (const auto& kv : ckpt.metadata) f.metadata.push_back(kv);
    add_tensors(f, ckpt.model, "model.");
    add_tensors(f, ckpt.optimizer, "optim.");
    write_safetensors(path, f);
}

Checkpoint load_checkpoint(const std::string& path) {
    SafetensorsFile f = read_safetensors(path);
    const std::string* format = find_meta(f, "format");
    RFLOW_CHECK(format && *format == kFormat,
                path << ": not an rflow checkpoint (metadata 'format' is " << (format ? "'" + *format + "'" : "missing")
                     << ", expected '" << kFormat << "')");
    Checkpoint c;
    for (const auto& [k, v] : f.metadata) {
        if (k == "step") {
            c.step = parse_step(v, path);
        } else if (k == "rng") {
            c.rng = parse_rng(v, path);
        } else if (k == "config") {
            check_json_depth(v, path, "metadata 'config'");
            c.config = v;
        } else if (k != "format") {
            c.metadata.emplace_back(k, v);
        }
    }
    RFLOW_CHECK(find_meta(f, "step") && find_meta(f, "rng"), path << ": checkpoint lacks 'step' or 'rng' metadata");
    for (const auto& [name, raw] : f.tensors) {
        if (name.rfind("model.", 0) == 0) c.model.emplace_back(name.substr(6), to_tensor(raw, path, name));
        else if (name.rfind("optim.", 0) == 0) c.optimizer.emplace_back(name.substr(6), to_tensor(raw, path, name));
        else RFLOW_FAIL(path << ": unexpected tensor '" << name << "' (expected model.* or optim.*)");
    }
    return c;
}

void save_weights(const std::string& path, const TensorList& tensors,
                  const std::vector<std::pair<std::string, std::string>>& metadata, DType dtype) {
    SafetensorsFile f;
    f.metadata = metadata;
    add_tensors(f, tensors, "", dtype);
    write_safetensors(path, f);
}

TensorList load_weights(const std::string& path) {
    SafetensorsFile f = read_safetensors(path);
    TensorList out;
    for (const auto& [name, raw] : f.tensors) out.emplace_back(name, to_tensor(raw, path, name));
    return out;
}

}  // namespace rflow::io
