// Shared LoRA fine-tuning flags and setup (see lora_flags.hpp).
#include "lora_flags.hpp"

#include <cstdio>

#include "cli_common.hpp"
#include "flag_checks.hpp"

namespace rflow::cli {

void add_lora_flags(CLI::App* c, LoRAFlags& f, const std::string& default_targets) {
    f.targets = default_targets;
    c->add_option("--base", f.base, "Fine-tune this trained model with LoRA adapters instead of training from scratch");
    c->add_option("--lora-rank", f.cfg.rank, "LoRA rank r")->capture_default_str()->transform(count_in(1, kMaxWidth));
    c->add_option("--lora-alpha", f.cfg.alpha, "LoRA alpha (s = alpha / r)")->capture_default_str()->check(finite_positive());
    c->add_option("--lora-init", f.cfg.init, "default, pissa or lora-ga")
        ->capture_default_str()->check(CLI::IsMember(nn::lora_init_names()));
    c->add_option("--lora-targets", f.targets,
                  "Comma-separated module names (suffixes) or one re:REGEX (default: layers narrower than the rank are skipped)")
        ->capture_default_str()->each([&f](const std::string&) { f.targets_given = true; });
    c->add_option("--lora-plus-ratio", f.plus_ratio, "LoRA+: learning rate of B over A's (1 = plain LoRA)")
        ->capture_default_str()->check(finite_positive());
    c->add_option("--lora-dropout", f.cfg.dropout, "Dropout on the adapters' input, in [0, 1)")
        ->capture_default_str()->check(number_in(0, 1, false, true));
    c->add_flag("--lora-rslora", f.cfg.rslora, "rsLoRA scaling s = alpha / sqrt(r)");
    c->add_flag("--lora-dora", f.cfg.dora, "DoRA: magnitude and direction (Linear layers)");
    c->add_option("--lora-ga-samples", f.ga_samples, "lora-ga: samples for the gradient estimate")
        ->capture_default_str()->transform(count_in(1, kMaxSamples));
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
    size_t regexes = 0;
    for (const std::string& target : t.targets) {
        if (target.rfind("re:", 0) != 0) continue;
        ++regexes;
        if (target.size() == 3) throw BadInput("--lora-targets: 're:' needs a regular expression after it");
        try {
            nn::compile_lora_target_regex(target.substr(3));
        } catch (const Error& e) {
            throw BadInput(std::string("--lora-targets: ") + e.what());
        }
    }
    if (regexes > 0 && regexes != t.targets.size())
        throw BadInput("--lora-targets: '" + list + "' mixes module names and re:REGEX (give names, or one regex)");
    if (regexes > 1) throw BadInput("--lora-targets: '" + list + "' has several re:REGEX (join them with | into one)");
    return t;
}

void check_lora_flags(const LoRAFlags& f) {
    parse_lora_targets(f.targets);
    if (f.cfg.dora && f.cfg.init != "default")
        throw BadInput("--lora-dora: cannot be combined with --lora-init " + f.cfg.init +
                       " (the adapter could not be exported relative to the original weights; use --lora-init default)");
}

namespace {
// A module name as a regex matching exactly that name.
std::string regex_escaped(const std::string& name) {
    std::string out;
    for (char ch : name) {
        if (std::string("\\^$.|?*+()[]{}").find(ch) != std::string::npos) out += '\\';
        out += ch;
    }
    return out;
}
}  // namespace

nn::LoRATargets lora_targets_for(nn::Module& model, const LoRAFlags& f) {
    nn::LoRATargets targets = parse_lora_targets(f.targets);
    if (f.targets_given) return targets;
    const int64_t width = f.cfg.init == "lora-ga" ? 2 * f.cfg.rank : f.cfg.rank;
    const nn::LoRAWidthSplit split = nn::split_lora_targets_by_width(model, targets, width);
    if (split.narrow.empty()) return targets;
    std::string skipped;
    for (const std::string& name : split.narrow) skipped += (skipped.empty() ? "" : ", ") + name;
    if (split.fit.empty())
        throw BadInput("--lora-rank " + std::to_string(f.cfg.rank) + ": every default target layer is narrower than " +
                       std::to_string(width) + " (" + skipped + "); lower the rank");
    std::fprintf(stderr, "LoRA: skipping %zu layer(s) narrower than %lld: %s\n", split.narrow.size(),
                 static_cast<long long>(width), skipped.c_str());
    std::string exact;  // one regex naming exactly the layers that fit
    for (const std::string& name : split.fit) exact += (exact.empty() ? "" : "|") + regex_escaped(name);
    targets.targets = {"re:" + exact};
    return targets;
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
