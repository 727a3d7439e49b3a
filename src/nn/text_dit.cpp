// Text-conditioned DiT: captions -> token ids -> prompt encoder -> DiT conditioning (see text_dit.hpp).
#include "rflow/nn/text_dit.hpp"

#include "rflow/error.hpp"

namespace rflow::nn {

TextDiT::TextDiT(const TextDiTConfig& cfg, data::UnigramTokenizer tokenizer, Generator& gen)
    : cfg_(cfg), tokenizer_(std::move(tokenizer)), captions_gen_(cfg.seed, 0x7e47) {
    RFLOW_CHECK(cfg_.captions.num_classes() > 0 && !cfg_.captions.templates.empty(),
                "TextDiT: the caption set needs classes and templates");
    cfg_.dit.num_classes = 0;
    cfg_.encoder.vocab_size = tokenizer_.vocab_size();
    cfg_.encoder.dim = cfg_.encoder.out_dim = cfg_.dit.dim;  // the prompt embedding is the DiT's width
    encoder_ = register_module("prompt", std::make_shared<PromptEncoder>(cfg_.encoder, gen));
    dit_ = register_module("dit", std::make_shared<DiT>(cfg_.dit, gen));
}

Tensor TextDiT::run(const Tensor& x, const Tensor& t, const std::vector<std::vector<int64_t>>& tokens) {
    RFLOW_CHECK(static_cast<int64_t>(tokens.size()) == x.size(0),
                "TextDiT: " << tokens.size() << " prompts for " << x.size(0) << " images");
    return dit_->forward_embedded(x, t, encoder_->forward(tokens));
}

Tensor TextDiT::forward(const Tensor& x, const Tensor& t) {
    return run(x, t, std::vector<std::vector<int64_t>>(static_cast<size_t>(x.size(0))));
}

Tensor TextDiT::forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels) {
    RFLOW_CHECK(static_cast<int64_t>(labels.size()) == x.size(0),
                "TextDiT: " << labels.size() << " labels for " << x.size(0) << " images");
    std::vector<std::vector<int64_t>> tokens(labels.size());
    for (size_t i = 0; i < labels.size(); ++i) {
        const int64_t c = labels[i];
        RFLOW_CHECK(c >= 0 && c <= num_classes(), "TextDiT: label " << c << " outside [0, " << num_classes() << "]");
        if (c == num_classes()) continue;  // the null prompt
        if (is_training())
            tokens[i] = tokenizer_.sample(cfg_.captions.random_caption(c, captions_gen_), cfg_.sampling_alpha,
                                          captions_gen_);
        else
            tokens[i] = tokenizer_.encode(cfg_.captions.canonical_caption(c));
    }
    return run(x, t, tokens);
}

Tensor TextDiT::forward_prompts(const Tensor& x, const Tensor& t, const std::vector<std::string>& prompts) {
    std::vector<std::vector<int64_t>> tokens;
    for (const std::string& p : prompts) tokens.push_back(tokenizer_.encode(p));
    return run(x, t, tokens);
}

}  // namespace rflow::nn
