// Checkpoint and weight files on top of the safetensors reader/writer.
#include "rflow/io/checkpoint.hpp"

#include <sstream>

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

void add_tensors(SafetensorsFile& f, const TensorList& list, const std::string& prefix) {
    for (const auto& [name, t] : list) {
        Tensor c = t.detach().to(Device::cpu).contiguous();
        f.tensors.emplace_back(prefix + name, from_f32(c.data(), c.shape(), DType::F32));
    }
}

Tensor to_tensor(const RawTensor& raw) {
    std::vector<float> v = to_f32(raw);
    return Tensor::from_vector(v, raw.shape);
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
            try {
                c.step = std::stoll(v);
            } catch (const std::exception&) {
                RFLOW_FAIL(path << ": metadata 'step' is not an integer: '" << v << "'");
            }
        } else if (k == "rng") {
            std::istringstream is(v);
            RFLOW_CHECK(is >> c.rng[0] >> c.rng[1] >> c.rng[2], path << ": metadata 'rng' malformed: '" << v << "'");
        } else if (k == "config") {
            c.config = v;
        } else if (k != "format") {
            c.metadata.emplace_back(k, v);
        }
    }
    RFLOW_CHECK(find_meta(f, "step") && find_meta(f, "rng"), path << ": checkpoint lacks 'step' or 'rng' metadata");
    for (const auto& [name, raw] : f.tensors) {
        if (name.rfind("model.", 0) == 0) c.model.emplace_back(name.substr(6), to_tensor(raw));
        else if (name.rfind("optim.", 0) == 0) c.optimizer.emplace_back(name.substr(6), to_tensor(raw));
        else RFLOW_FAIL(path << ": unexpected tensor '" << name << "' (expected model.* or optim.*)");
    }
    return c;
}

void save_weights(const std::string& path, const TensorList& tensors,
                  const std::vector<std::pair<std::string, std::string>>& metadata) {
    SafetensorsFile f;
    f.metadata = metadata;
    add_tensors(f, tensors, "");
    write_safetensors(path, f);
}

TensorList load_weights(const std::string& path) {
    SafetensorsFile f = read_safetensors(path);
    TensorList out;
    for (const auto& [name, raw] : f.tensors) out.emplace_back(name, to_tensor(raw));
    return out;
}

}  // namespace rflow::io
