// LoRA adapters on Linear and Conv2d layers, PEFT convention (SPEC sections 2 and 3):
//
//   y = W0 x + b + s B A dropout(x),   A [r, in] ("lora_A.weight"), B [out, r] ("lora_B.weight"),
//   s = alpha / r, or alpha / sqrt(r) with rsLoRA.
//
// Inits by name (each leaves the model's output unchanged):
//   "default"  A Kaiming-uniform (a = sqrt 5), B = 0
//   "pissa"    W0 = U S V^T: A = sqrt(S_r / s) V_r^T, B = U_r sqrt(S_r / s), W0 <- W0 - s B A
//   "lora-ga"  from the gradient G of the loss in W0 (init_lora_ga): G = U S V^T,
//              A = c V[:, :r]^T, B = c U[:, r:2r], c = out^(1/4) / sqrt(gamma), W0 <- W0 - s B A
// DoRA (dora = true) splits the adapted weight into a magnitude m (per output row, initialised to
// ||W0 + s B A|| at construction) and a direction: y = m / ||W0 + s B A||_row * ((W0 + s B A) x) + b, the norm taken
// without gradient as in the DoRA paper and PEFT.
// On a Conv2d [out, in, kh, kw], A is a conv with the layer's kernel, stride, padding and dilation
// (in -> r) and B a 1x1 conv (r -> out); the matrix algebra above runs on W0 as [out, in kh kw].
// The factors are attached to the layer as children, so the model's state dict names them as
// PEFT does ("<module>.lora_A.weight"); the base weight and bias are frozen.
#pragma once

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "rflow/nn/conv.hpp"
#include "rflow/nn/linear.hpp"
#include "rflow/optim/optimizer.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

struct LoRAConfig {
    int64_t rank = 8;
    float alpha = 16.f;
    float dropout = 0.f;           ///< on the adapter's input, training mode only
    bool rslora = false;           ///< s = alpha / sqrt(r) instead of alpha / r
    bool dora = false;
    std::string init = "default";  ///< "default" or "pissa"; "lora-ga" goes through init_lora_ga
    float ga_gamma = 16.f;         ///< LoRA-GA's "stable" scale c = out^(1/4) / sqrt(gamma)
};

/// The inits accepted by LoRAConfig::init (and "lora-ga").
RFLOW_API std::vector<std::string> lora_init_names();

/// One adapter on one Linear or Conv2d.
class RFLOW_API LoRA {
public:
    /// Attaches to `base` (Error if it already has an adapter or the rank is out of range).
    LoRA(nn::Linear& base, const LoRAConfig& cfg, Generator& gen);
    /// Conv2d with groups = 1; DoRA is not offered on convolutions.
    LoRA(nn::Conv2d& base, const LoRAConfig& cfg, Generator& gen);
    LoRA(const LoRA&) = delete;
    LoRA& operator=(const LoRA&) = delete;
    ~LoRA();

    /// The adapted output given the base output y = W0 x + b.
    Tensor forward(const Tensor& x, const Tensor& y);

    /// LoRA-GA: re-initialises A, B from the gradient G [out, in] of the loss in the base weight
    /// and corrects W0 so the output is unchanged. Needs 2r <= min(out, in). Meant for a fresh
    /// adapter (before training).
    void init_lora_ga(const Tensor& grad);

    /// W0 <- the adapted weight; forward then adds nothing. unmerge() restores W0 bit for bit.
    void merge();
    void unmerge();
    bool merged() const { return merged_; }

    /// The factors' weights: A [r, in] (conv: [r, in, kh, kw]), B [out, r] (conv: [out, r, 1, 1]).
    Tensor& A() { return a_w_; }
    Tensor& B() { return b_w_; }
    /// The adapted layer's weight W0.
    Tensor& base_weight() { return w0_; }
    /// DoRA's magnitude [out] (undefined without DoRA).
    Tensor magnitude() const;
    float scaling() const { return scaling_; }
    /// Overrides s (loaders apply a user weight or a file's own alpha this way).
    void set_scaling(float s) { scaling_ = s; }
    const LoRAConfig& config() const { return cfg_; }
    /// The adapted weight W0 + s B A (DoRA: with its magnitude), without recording.
    Tensor effective_weight() const;
    /// s B A, the change to W0 (DoRA: effective_weight() - W0).
    Tensor delta_weight() const;
    /// The adapter's trainable tensors: A, B (and DoRA's magnitude).
    std::vector<Tensor> parameters() const;
    /// The factors of the correction s B0 A0 that an init took from W0 (PiSSA, LoRA-GA), so that
    /// W0_original = W0 + s B0 A0; undefined for the default init. Exports use them to write an
    /// adapter that applies to the original weights.
    const Tensor& init_A() const { return init_a_; }
    const Tensor& init_B() const { return init_b_; }

private:
    void attach(nn::Module& base, Generator& gen);
    Tensor adapted_weight(bool record) const;
    // W0, A and B as matrices [out, fan_in], [r, fan_in], [out, r] (views of the weights)
    Tensor w0_matrix() const { return w0_.reshape({out_, fan_in_}); }
    Tensor a_matrix() const { return a_w_.reshape({cfg_.rank, fan_in_}); }
    Tensor b_matrix() const { return b_w_.reshape({out_, cfg_.rank}); }
    nn::Module& base_;
    std::function<void(std::function<Tensor(const Tensor&, const Tensor&)>)> set_hook_;
    Tensor w0_, bias_;
    int64_t out_ = 0, fan_in_ = 0;
    LoRAConfig cfg_;
    float scaling_;
    std::shared_ptr<nn::Module> a_, b_;
    Tensor a_w_, b_w_;
    std::shared_ptr<nn::Module> magnitude_;
    Generator dropout_gen_;
    bool merged_ = false;
    Tensor unmerged_weight_;  // exact copy of W0 while merged
    Tensor init_a_, init_b_;  // the init's correction of W0 (PiSSA, LoRA-GA)
};

/// Adapters on every Linear and Conv2d of a model whose dotted name matches a target: a target matches a
/// name equal to it or ending in "." + target (PEFT's target_modules), or, when it starts with
/// "re:", the whole name by regular expression. Per-module overrides by the same matching:
/// rank_pattern and alpha_pattern (PEFT's fields).
struct LoRATargets {
    std::vector<std::string> targets;
    std::map<std::string, int64_t> rank_pattern;
    std::map<std::string, float> alpha_pattern;
};

class RFLOW_API LoRAModel {
public:
    /// Freezes every parameter of the model, then adapts the targets. Error naming the targets
    /// when nothing matches.
    LoRAModel(nn::Module& model, const LoRATargets& targets, const LoRAConfig& cfg, Generator& gen);
    const std::vector<std::pair<std::string, std::shared_ptr<LoRA>>>& adapters() const { return adapters_; }
    /// All adapter tensors, in module order (the base model's are frozen).
    std::vector<Tensor> parameters() const;
    /// LoRA+: {A (and DoRA magnitudes), lr} and {B, ratio * lr}.
    std::vector<optim::ParamGroup> lora_plus_groups(float lr, float ratio = 16.f, float weight_decay = 0.f) const;
    void merge();
    void unmerge();
    /// LoRA-GA for every adapter (SPEC 2.c): the gradient of `loss_of(m, gen)` (the training loss
    /// on m samples drawn from gen) in each target weight, averaged over `samples` samples,
    /// initialises that adapter. Streams: one layer at a time, micro-batches of at most `micro`
    /// samples, the same samples (a fresh Generator(seed, 10)) for every layer, so memory holds
    /// one layer's gradient and one micro-batch's activations. Call on fresh adapters.
    void init_lora_ga(const std::function<Tensor(int64_t m, Generator& gen)>& loss_of, int64_t samples = 128,
                      uint64_t seed = 0, int64_t micro = 32);

private:
    std::vector<std::pair<std::string, std::shared_ptr<LoRA>>> adapters_;
};

/// The layers `targets` selects, by full dotted name, split by width: `fit` holds those whose
/// min(in, out) (a convolution's in counted as in kh kw) is at least `min_width` (the rank, or
/// 2 rank for LoRA-GA), `narrow` the others. Default target lists use it to skip layers too
/// narrow for the rank; the fitting names, as plain targets, select exactly those layers.
struct LoRAWidthSplit {
    std::vector<std::string> fit, narrow;
};
RFLOW_API LoRAWidthSplit split_lora_targets_by_width(nn::Module& model, const LoRATargets& targets, int64_t min_width);

/// A target pattern (the text after "re:") compiled, after bounds that keep std::regex safe on
/// hostile input: at most 1 024 characters, numbers in {n,m} and \N of at most 3 digits, repeat
/// counts multiplying to at most 4 096. Throws rflow::Error naming the pattern otherwise, or when
/// it is not a valid ECMAScript regex.
RFLOW_API std::regex compile_lora_target_regex(const std::string& pattern);

/// Does `target` select the module named `name` (rules above)?
RFLOW_API bool lora_target_matches(const std::string& target, const std::string& name);

}  // namespace rflow::nn
