// A text-conditioned DiT: a prompt encoder (nn/prompt_encoder.hpp) over a unigram tokenizer's ids
// conditions a DiT through its external embedding, so image flows follow prompts such as
// "a pair of sneakers". It is also a class-conditional VelocityModel, so the flow trainer, label
// dropout and classifier-free guidance work unchanged: label c becomes a caption of class c (a random
// template and synonym, tokenised with subword sampling, while training; the canonical caption,
// tokenised by Viterbi, in eval mode), and the null label becomes the empty prompt.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rflow/data/captions.hpp"
#include "rflow/data/tokenizer.hpp"
#include "rflow/nn/dit.hpp"
#include "rflow/nn/prompt_encoder.hpp"

namespace rflow::nn {

struct TextDiTConfig {
    DiTConfig dit;                  ///< num_classes is ignored (conditioning comes from the prompt)
    PromptEncoderConfig encoder;    ///< vocab_size from the tokenizer; dim = out_dim = the DiT's width
    data::CaptionSet captions;      ///< what labels mean as text
    double sampling_alpha = 0.1;    ///< subword regularisation while training (< 0: deterministic)
    uint64_t seed = 0;              ///< seed of the caption and segmentation draws
};

class RFLOW_API TextDiT : public VelocityModel {
public:
    TextDiT(const TextDiTConfig& cfg, data::UnigramTokenizer tokenizer, Generator& gen);
    /// The null (empty) prompt.
    Tensor forward(const Tensor& x, const Tensor& t) override;
    /// Captions of the labels (num_classes() = the empty prompt), drawn as the header says.
    Tensor forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels) override;
    /// One prompt per image, tokenised deterministically ("" is the null prompt).
    Tensor forward_prompts(const Tensor& x, const Tensor& t, const std::vector<std::string>& prompts);
    int64_t num_classes() const override { return cfg_.captions.num_classes(); }
    const TextDiTConfig& config() const { return cfg_; }
    const data::UnigramTokenizer& tokenizer() const { return tokenizer_; }
    /// The caption-and-segmentation generator's position (saved with checkpoints to resume exactly).
    Generator& caption_generator() { return captions_gen_; }

private:
    Tensor run(const Tensor& x, const Tensor& t, const std::vector<std::vector<int64_t>>& tokens);
    TextDiTConfig cfg_;
    data::UnigramTokenizer tokenizer_;
    Generator captions_gen_;
    std::shared_ptr<PromptEncoder> encoder_;
    std::shared_ptr<DiT> dit_;
};

}  // namespace rflow::nn
