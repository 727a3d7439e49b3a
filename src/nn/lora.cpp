// LoRA adapters (see lora.hpp for the math and conventions).
#include "rflow/nn/lora.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>

#include "rflow/autograd.hpp"
#include "rflow/conv_ops.hpp"
#include "rflow/error.hpp"
#include "rflow/linalg.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

namespace {

/// A module holding one vector parameter "weight" (DoRA's magnitude), so the state dict names it
/// "<module>.lora_magnitude_vector.weight".
class Vector : public nn::Module {
public:
    explicit Vector(const Tensor& v) { register_parameter("weight", v); }
};

// Row norms ||W[i, :]|| as [out].
Tensor row_norms(const Tensor& w) { return sqrt(sum(square(w), {1})); }

}  // namespace

std::vector<std::string> lora_init_names() { return {"default", "pissa", "lora-ga"}; }

LoRA::LoRA(nn::Linear& base, const LoRAConfig& cfg, Generator& gen)
    : base_(base), w0_(base.weight()), bias_(base.bias()), out_(base.out_features()), fan_in_(base.in_features()),
      cfg_(cfg), dropout_gen_(gen.seed(), 9) {
    RFLOW_CHECK(!base.has_output_hook(), "LoRA: this Linear already has an adapter");
    set_hook_ = [&base](std::function<Tensor(const Tensor&, const Tensor&)> h) { base.set_output_hook(std::move(h)); };
    RFLOW_CHECK(cfg.rank >= 1 && cfg.rank <= std::min(base.in_features(), out_),
                "LoRA: rank " << cfg.rank << " must lie in [1, min(in, out) = " << std::min(base.in_features(), out_) << "]");
    auto a = std::make_shared<nn::Linear>(base.in_features(), cfg.rank, gen, false);  // Kaiming-uniform, a = sqrt 5 (PEFT)
    auto b = std::make_shared<nn::Linear>(cfg.rank, out_, gen, false);
    a_w_ = a->weight();
    b_w_ = b->weight();
    a_ = a;
    b_ = b;
    attach(base, gen);
}

LoRA::LoRA(nn::Conv2d& base, const LoRAConfig& cfg, Generator& gen)
    : base_(base), w0_(base.weight()), bias_(base.bias()), out_(base.out_channels()),
      fan_in_(base.weight().numel() / base.out_channels()), cfg_(cfg), dropout_gen_(gen.seed(), 9) {
    RFLOW_CHECK(!base.has_output_hook(), "LoRA: this Conv2d already has an adapter");
    RFLOW_CHECK(base.groups() == 1, "LoRA: grouped convolutions (groups = " << base.groups() << ") are not supported");
    RFLOW_CHECK(!cfg.dora, "LoRA: DoRA is offered on Linear layers only");
    set_hook_ = [&base](std::function<Tensor(const Tensor&, const Tensor&)> h) { base.set_output_hook(std::move(h)); };
    RFLOW_CHECK(cfg.rank >= 1 && cfg.rank <= std::min(fan_in_, out_),
                "LoRA: rank " << cfg.rank << " must lie in [1, min(in kh kw, out) = " << std::min(fan_in_, out_) << "]");
    const Int2 kernel{base.weight().size(2), base.weight().size(3)};
    auto a = std::make_shared<nn::Conv2d>(base.in_channels(), cfg.rank, kernel, gen, base.stride(), base.padding(),
                                          base.dilation(), 1, false);
    auto b = std::make_shared<nn::Conv2d>(cfg.rank, out_, 1, gen, 1, 0, 1, 1, false);
    a_w_ = a->weight();
    b_w_ = b->weight();
    a_ = a;
    b_ = b;
    attach(base, gen);
}

void LoRA::attach(nn::Module& base, Generator&) {
    const LoRAConfig& cfg = cfg_;
    RFLOW_CHECK(cfg.alpha > 0.f && std::isfinite(cfg.alpha), "LoRA: alpha must be > 0, got " << cfg.alpha);
    RFLOW_CHECK(cfg.dropout >= 0.f && cfg.dropout < 1.f, "LoRA: dropout must lie in [0, 1), got " << cfg.dropout);
    RFLOW_CHECK(cfg.init == "default" || cfg.init == "pissa" || cfg.init == "lora-ga",
                "unknown LoRA init '" << cfg.init << "' (known: default, pissa, lora-ga)");
    scaling_ = cfg.alpha / (cfg.rslora ? std::sqrt(static_cast<float>(cfg.rank)) : static_cast<float>(cfg.rank));
    b_w_.fill_(0.f);
    w0_.requires_grad_(false);
    if (bias_.defined()) bias_.requires_grad_(false);
    if (cfg.init == "pissa") {
        // W0 = U S V^T: s B A = U_r S_r V_r^T, the principal part; W0 keeps the rest
        NoGradGuard ng;
        const Svd d = svd(w0_matrix());
        const Tensor root = sqrt(mul(d.S.slice(0, 0, cfg.rank), 1.f / scaling_));  // sqrt(S_r / s)
        a_matrix().copy_(mul(d.V.slice(1, 0, cfg.rank).t(), root.reshape({cfg.rank, 1})));
        b_matrix().copy_(mul(d.U.slice(1, 0, cfg.rank), root.reshape({1, cfg.rank})));
        w0_matrix().copy_(sub(w0_matrix(), mul(matmul(b_matrix(), a_matrix()), scaling_)));
        init_a_ = a_w_.clone();
        init_b_ = b_w_.clone();
    }
    base.attach_child("lora_A", a_);
    base.attach_child("lora_B", b_);
    if (cfg.dora) {
        NoGradGuard ng;
        magnitude_ = std::make_shared<Vector>(row_norms(adapted_weight(false)));  // m = ||W0 + s B A||
        base.attach_child("lora_magnitude_vector", magnitude_);
    }
    set_hook_([this](const Tensor& x, const Tensor& y) { return forward(x, y); });
}

LoRA::~LoRA() {
    set_hook_(nullptr);
    for (const char* name : {"lora_A", "lora_B", "lora_magnitude_vector"}) {
        try {
            base_.detach_child(name);
        } catch (const Error&) {  // absent (no DoRA)
        }
    }
}

Tensor LoRA::magnitude() const { return magnitude_ ? magnitude_->named_parameters().front().second : Tensor(); }

std::vector<Tensor> LoRA::parameters() const {
    std::vector<Tensor> p{a_w_, b_w_};
    if (magnitude_) p.push_back(magnitude());
    return p;
}

Tensor LoRA::forward(const Tensor& x, const Tensor& y) {
    if (merged_) return y;
    const Tensor h = cfg_.dropout > 0.f ? dropout(x, cfg_.dropout, dropout_gen_, base_.is_training()) : x;
    const Tensor update = mul(b_->forward(a_->forward(h)), scaling_);  // s B A x (conv: s B(A(x)))
    if (!magnitude_) return add(y, update);
    // DoRA: m / ||W0 + s B A||_row (norm without gradient) times (W0 x + s B A x), plus the bias
    Tensor norm;
    {
        NoGradGuard ng;
        norm = row_norms(adapted_weight(false));
    }
    const Tensor scale = div(magnitude(), norm);
    const Tensor bias = bias_;
    const Tensor linear_part = bias.defined() ? sub(y, bias) : y;
    const Tensor out = mul(add(linear_part, update), scale);
    return bias.defined() ? add(out, bias) : out;
}

Tensor LoRA::adapted_weight(bool record) const {
    GradModeGuard g(record && grad_enabled());
    return add(w0_matrix(), mul(matmul(b_matrix(), a_matrix()), scaling_));  // [out, fan_in]
}

Tensor LoRA::effective_weight() const {
    NoGradGuard ng;
    const Tensor w = (merged_ ? unmerged_weight_ : w0_).reshape({out_, fan_in_});
    Tensor adapted = add(w, mul(matmul(b_matrix(), a_matrix()), scaling_));
    if (magnitude_) adapted = mul(adapted, div(magnitude(), row_norms(adapted)).reshape({-1, 1}));
    return adapted.reshape(w0_.shape());
}

Tensor LoRA::delta_weight() const {
    NoGradGuard ng;
    return sub(effective_weight(), merged_ ? unmerged_weight_ : w0_);
}

void LoRA::merge() {
    RFLOW_CHECK(!merged_, "LoRA: already merged");
    NoGradGuard ng;
    const Tensor w = effective_weight();
    unmerged_weight_ = w0_.clone();  // kept so unmerge is exact
    w0_.copy_(w);
    merged_ = true;
}

void LoRA::unmerge() {
    RFLOW_CHECK(merged_, "LoRA: not merged");
    NoGradGuard ng;
    w0_.copy_(unmerged_weight_);
    unmerged_weight_ = Tensor();
    merged_ = false;
}

void LoRA::init_lora_ga(const Tensor& grad) {
    const int64_t r = cfg_.rank;
    RFLOW_CHECK(!merged_, "LoRA-GA init: unmerge first");
    RFLOW_CHECK(grad.shape() == w0_.shape(), "LoRA-GA init: gradient " << shape_str(grad.shape())
                                                                       << " does not match the weight " << shape_str(w0_.shape()));
    RFLOW_CHECK(2 * r <= std::min(out_, fan_in_), "LoRA-GA init: needs 2 rank = " << 2 * r << " <= min(out, in) = "
                                                                                 << std::min(out_, fan_in_));
    NoGradGuard ng;
    const Svd d = svd(grad.reshape({out_, fan_in_}));
    const float c = std::pow(static_cast<float>(out_), 0.25f) / std::sqrt(cfg_.ga_gamma);
    const Tensor old = mul(matmul(b_matrix(), a_matrix()), scaling_);
    a_matrix().copy_(mul(d.V.slice(1, 0, r).t(), c));    // c V[:, :r]^T
    b_matrix().copy_(mul(d.U.slice(1, r, 2 * r), c));   // c U[:, r:2r]
    // W0 <- W0 + s B_old A_old - s B A: the adapted weight, hence the output, is unchanged
    w0_matrix().copy_(sub(add(w0_matrix(), old), mul(matmul(b_matrix(), a_matrix()), scaling_)));
    init_a_ = a_w_.clone();
    init_b_ = b_w_.clone();
}

namespace {

// A repeated sub-pattern that can itself match in several ways (a**, (a*)*, (a|b)+) makes
// libstdc++'s backtracking matcher exponential in the length of the name (found by fuzz_lora: a
// pattern "n*****...one" ran for minutes). Module-name patterns never need one; reject them.
void reject_nested_repetition(const std::string& p) {
    std::vector<bool> ambiguous{false};  // per open group (the outermost level first)
    enum { kNone, kAtom, kQuantifier, kLazy, kAmbiguousGroup } prev = kNone;
    auto fail = [&](size_t at) {
        RFLOW_FAIL("LoRA target regex '" << p << "': nested repetition at offset " << at
                                         << " (a repeat of a repeat or of an alternation) is not accepted");
    };
    for (size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\') {
            ++i;
            prev = kAtom;
        } else if (c == '[') {  // a class is one atom: skip to its ']'
            size_t j = i + 1;
            if (j < p.size() && p[j] == '^') ++j;
            if (j < p.size() && p[j] == ']') ++j;
            for (; j < p.size() && p[j] != ']'; ++j)
                if (p[j] == '\\') ++j;
            i = j;
            prev = kAtom;
        } else if (c == '(') {
            ambiguous.push_back(false);
            prev = kNone;
        } else if (c == ')') {
            const bool amb = ambiguous.size() > 1 && ambiguous.back();
            if (ambiguous.size() > 1) ambiguous.pop_back();
            prev = amb ? kAmbiguousGroup : kAtom;
        } else if (c == '|') {
            ambiguous.back() = true;
            prev = kNone;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (c == '?' && prev == kQuantifier) {  // a lazy quantifier: *? +? ?? {n}?
                prev = kLazy;
                continue;
            }
            if (prev == kQuantifier || prev == kLazy || prev == kAmbiguousGroup) fail(i);
            if (c == '{')
                while (i < p.size() && p[i] != '}') ++i;
            ambiguous.back() = true;
            prev = kQuantifier;
        } else {
            prev = kAtom;
        }
    }
}

}  // namespace

std::regex compile_lora_target_regex(const std::string& pattern) {
    // libstdc++'s regex compiler recurses on nesting (an unbounded pattern overflows the stack),
    // accumulates repeat counts and backreference numbers in a long without an overflow check
    // (UB on a 20-digit number) and copies a repeated group once per repeat (nested {n} multiply).
    // Bound all three before it sees the pattern; no module-name pattern comes near these limits.
    constexpr size_t kMaxPattern = 1024;
    constexpr int64_t kMaxRepeatProduct = 4096;
    RFLOW_CHECK(pattern.size() <= kMaxPattern,
                "LoRA target regex of " << pattern.size() << " characters (at most " << kMaxPattern << " accepted)");
    int64_t repeat_product = 1;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const bool backref = pattern[i] == '\\' && i + 1 < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[i + 1]));
        if (pattern[i] == '\\' && !backref) {
            ++i;  // an escaped character, '\{' included
            continue;
        }
        if (!backref && pattern[i] != '{') continue;
        // \N or {n}, {n,}, {n,m}: every number in it at most 3 digits; {} counts multiply
        int64_t largest = 0;
        size_t j = i + 1;
        while (j < pattern.size() && (std::isdigit(static_cast<unsigned char>(pattern[j])) || (!backref && pattern[j] == ','))) {
            size_t digits = 0;
            int64_t value = 0;
            for (; j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j])); ++j, ++digits)
                if (digits < 4) value = value * 10 + (pattern[j] - '0');
            RFLOW_CHECK(digits <= 3, "LoRA target regex '" << pattern << "': the number at offset " << j - digits
                                                           << " has more than 3 digits");
            largest = std::max(largest, value);
            if (j < pattern.size() && pattern[j] == ',' && !backref) ++j;
        }
        if (!backref) {
            repeat_product *= std::max<int64_t>(largest, 1);
            RFLOW_CHECK(repeat_product <= kMaxRepeatProduct, "LoRA target regex '" << pattern << "': repeat counts multiply to more than "
                                                                                     << kMaxRepeatProduct);
        }
        i = j - 1;
    }
    reject_nested_repetition(pattern);
    try {
        return std::regex(pattern);
    } catch (const std::regex_error& e) {
        RFLOW_FAIL("LoRA target regex '" << pattern << "' is not a valid regular expression (" << e.what() << ")");
    }
}

bool lora_target_matches(const std::string& target, const std::string& name) {
    if (target.rfind("re:", 0) == 0) return std::regex_match(name, compile_lora_target_regex(target.substr(3)));
    if (name == target) return true;
    return name.size() > target.size() && name.compare(name.size() - target.size(), target.size(), target) == 0 &&
           name[name.size() - target.size() - 1] == '.';
}

namespace {

// The Linear and Conv2d layers the targets select, in module order (adapters' own factors excluded).
std::vector<std::pair<std::string, nn::Module*>> target_layers(nn::Module& model, const LoRATargets& targets) {
    std::vector<std::pair<std::string, nn::Module*>> layers;
    for (auto& [name, module] : model.named_modules()) {
        if ((!dynamic_cast<nn::Linear*>(module) && !dynamic_cast<nn::Conv2d*>(module)) || name.empty()) continue;
        if (name.size() >= 7 && (name.compare(name.size() - 6, 6, "lora_A") == 0 || name.compare(name.size() - 6, 6, "lora_B") == 0))
            continue;
        bool hit = false;
        for (const std::string& t : targets.targets) hit = hit || lora_target_matches(t, name);
        if (hit) layers.emplace_back(name, module);
    }
    return layers;
}

// min(in, out) of a layer (a convolution's input counted as in kh kw), the largest rank it takes.
int64_t layer_width(nn::Module& layer) {
    if (auto* linear = dynamic_cast<nn::Linear*>(&layer)) return std::min(linear->in_features(), linear->out_features());
    auto& conv = dynamic_cast<nn::Conv2d&>(layer);
    return std::min(conv.weight().numel() / conv.out_channels(), conv.out_channels());
}

}  // namespace

LoRAModel::LoRAModel(nn::Module& model, const LoRATargets& targets, const LoRAConfig& cfg, Generator& gen) {
    RFLOW_CHECK(!targets.targets.empty(), "LoRA: no target modules given");
    for (Tensor& p : model.parameters()) p.requires_grad_(false);  // only adapters train
    for (auto& [name, module] : target_layers(model, targets)) {
        LoRAConfig c = cfg;
        for (const auto& [pattern, rank] : targets.rank_pattern)
            if (lora_target_matches(pattern, name)) c.rank = rank;
        for (const auto& [pattern, alpha] : targets.alpha_pattern)
            if (lora_target_matches(pattern, name)) c.alpha = alpha;
        auto* linear = dynamic_cast<nn::Linear*>(module);
        adapters_.emplace_back(name, linear ? std::make_shared<LoRA>(*linear, c, gen)
                                            : std::make_shared<LoRA>(dynamic_cast<nn::Conv2d&>(*module), c, gen));
    }
    if (adapters_.empty()) {
        std::string list;
        for (const std::string& t : targets.targets) list += (list.empty() ? "" : ", ") + t;
        RFLOW_FAIL("LoRA: no Linear or Conv2d layer matches the targets " << list);
    }
}

LoRAWidthSplit split_lora_targets_by_width(nn::Module& model, const LoRATargets& targets, int64_t min_width) {
    LoRAWidthSplit split;
    for (auto& [name, module] : target_layers(model, targets))
        (layer_width(*module) >= min_width ? split.fit : split.narrow).push_back(name);
    return split;
}

std::vector<Tensor> LoRAModel::parameters() const {
    std::vector<Tensor> p;
    for (const auto& [name, a] : adapters_)
        for (const Tensor& t : a->parameters()) p.push_back(t);
    return p;
}

std::vector<optim::ParamGroup> LoRAModel::lora_plus_groups(float lr, float ratio, float weight_decay) const {
    RFLOW_CHECK(ratio > 0.f && std::isfinite(ratio), "LoRA+: the B/A learning-rate ratio must be > 0, got " << ratio);
    optim::ParamGroup a{"lora_A", {}, lr, weight_decay}, b{"lora_B", {}, lr * ratio, weight_decay};
    for (const auto& [name, ad] : adapters_) {
        a.params.push_back(ad->A());
        if (ad->config().dora) a.params.push_back(ad->magnitude());
        b.params.push_back(ad->B());
    }
    return {a, b};
}

void LoRAModel::merge() {
    for (auto& [name, a] : adapters_) a->merge();
}

void LoRAModel::unmerge() {
    for (auto& [name, a] : adapters_) a->unmerge();
}

void LoRAModel::init_lora_ga(const std::function<Tensor(int64_t, Generator&)>& loss_of, int64_t samples, uint64_t seed,
                             int64_t micro) {
    RFLOW_CHECK(samples > 0 && micro > 0, "LoRA-GA: samples and micro-batch size must be > 0");
    for (auto& [name, a] : adapters_) {
        Tensor w = a->base_weight();
        w.requires_grad_(true);
        Generator g(seed, 10);  // the same samples for every layer
        Tensor mean_grad = Tensor::zeros(w.shape(), w.device());
        for (int64_t done = 0; done < samples;) {
            const int64_t m = std::min(micro, samples - done);
            const Tensor gm = grad({loss_of(m, g)}, {w})[0];
            NoGradGuard ng;
            mean_grad = add(mean_grad, mul(gm, static_cast<float>(m) / static_cast<float>(samples)));
            done += m;
        }
        w.requires_grad_(false);
        a->init_lora_ga(mean_grad);
    }
}

}  // namespace rflow::nn
