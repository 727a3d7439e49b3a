// Shared LoRA fine-tuning flags and setup (see lora_flags.hpp).
#include "lora_flags.hpp"

#include "cli_common.hpp"

namespace rflow::cli {

void add_lora_flags(CLI::App* c, LoRAFlags& f, const std::string& default_targets) {
    f.targets = default_targets;
    c->add_option("--base", f.base, "Fine-tune this trained model with LoRA adapters instead of training from scratch");
    c->add_option("--lora-rank", f.cfg.rank, "LoRA rank r")->capture_default_str()->check(positive());
    c->add_option("--lora-alpha", f.cfg.alpha, "LoRA alpha (s = alpha / r)")->capture_default_str()->check(positive());
    c->add_option("--lora-init", f.cfg.init, "default, pissa or lora-ga")->capture_default_str();
    c->add_option("--lora-targets", f.targets, "Comma-separated module names (suffixes) or re:REGEX")->capture_default_str();
    c->add_option("--lora-plus-ratio", f.plus_ratio, "LoRA+: learning rate of B over A's (1 = plain LoRA)")
        ->capture_default_str()->check(positive());
    c->add_option("--lora-dropout", f.cfg.dropout, "Dropout on the adapters' input")->capture_default_str();
    c->add_flag("--lora-rslora", f.cfg.rslora, "rsLoRA scaling s = alpha / sqrt(r)");
    c->add_flag("--lora-dora", f.cfg.dora, "DoRA: magnitude and direction (Linear layers)");
    c->add_option("--lora-ga-samples", f.ga_samples, "lora-ga: samples for the gradient estimate")->capture_default_str()->check(positive());
}

nn::LoRATargets parse_lora_targets(const std::string& list) {
    nn::LoRATargets t;
    for (size_t start = 0; start <= list.size();) {
        const size_t comma = list.find(',', start);
        const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!item.empty()) t.targets.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (t.targets.empty()) throw BadInput("--lora-targets: no target given");
    return t;
}

std::unique_ptr<nn::LoRAModel> setup_lora(nn::Module& model, const LoRAFlags& f, const nn::LoRATargets& targets,
                                          Generator& init, const std::function<Tensor(int64_t, Generator&)>& loss_of,
                                          uint64_t seed) {
    auto lora = as_input([&] { return std::make_unique<nn::LoRAModel>(model, targets, f.cfg, init); });
    if (f.cfg.init == "lora-ga")
        as_input([&] {
            lora->init_lora_ga(loss_of, f.ga_samples, seed);
            return 0;
        });
    return lora;
}

}  // namespace rflow::cli
