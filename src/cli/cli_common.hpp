// Shared pieces of the CLI commands: the bad-input error (exit code 2) and toy-model config JSON.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "rflow/error.hpp"
#include "rflow/nn/velocity_mlp.hpp"

namespace rflow::cli {

/// Bad usage or bad input (a malformed file, an unknown name): the CLI exits with code 2.
class BadInput : public Error {
public:
    explicit BadInput(const std::string& what) : Error(what) {}
};

/// Runs f, turning any rflow::Error into BadInput (for reading user-supplied inputs).
template <class F>
auto as_input(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const BadInput&) {
        throw;
    } catch (const Error& e) {
        throw BadInput(e.what());
    }
}

nlohmann::json model_config_json(const nn::VelocityMLPConfig& cfg);
/// Error naming the key when the JSON lacks one or has the wrong type.
nn::VelocityMLPConfig model_config_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace rflow::cli
