// Toy model configuration <-> JSON (stored in checkpoints so `sample-toy` can rebuild the model).
#include "cli_common.hpp"

namespace rflow::cli {

nlohmann::json model_config_json(const nn::VelocityMLPConfig& cfg) {
    return {{"model", "velocity_mlp"},        {"data_dim", cfg.data_dim},
            {"hidden", cfg.hidden},           {"depth", cfg.depth},
            {"activation", cfg.activation},   {"time_embedding", cfg.time_embedding},
            {"embedding_dim", cfg.embedding_dim}};
}

nn::VelocityMLPConfig model_config_from_json(const nlohmann::json& j, const std::string& source) {
    nn::VelocityMLPConfig cfg;
    auto get = [&](const char* key, auto& out) {
        if (!j.contains(key)) throw BadInput(source + ": model config lacks '" + key + "'");
        try {
            j.at(key).get_to(out);
        } catch (const nlohmann::json::exception&) {
            throw BadInput(source + ": model config key '" + key + "' has the wrong type");
        }
    };
    std::string model;
    get("model", model);
    if (model != "velocity_mlp") throw BadInput(source + ": unknown model '" + model + "'");
    get("data_dim", cfg.data_dim);
    get("hidden", cfg.hidden);
    get("depth", cfg.depth);
    get("activation", cfg.activation);
    get("time_embedding", cfg.time_embedding);
    get("embedding_dim", cfg.embedding_dim);
    return cfg;
}

}  // namespace rflow::cli
