// A small text encoder for prompts: token embeddings, pre-norm transformer blocks built from the
// attention layer (any kind, 1-D RoPE for positions), and a mean over the prompt's tokens:
//   h_0 = E[tokens]  (padded with a learned pad token to max_tokens, so a prompt's embedding never
//                    depends on the other prompts of its batch)
//   h_{l+1} = h_l + attn(norm(h_l)),  h_{l+1} = h_{l+1} + fc2(GELU(fc1(norm(h_{l+1}))))
//                    (attn's output projection and fc2 start at zero: a bag of embeddings at first)
//   out = norm(h_L at the prompt's last token)   [N, dim]  (then Linear to out_dim if it differs)
// Last-token pooling (as CLIP pools its end token): captions end in the class phrase, so at the start
// of training a prompt's embedding is its last word's, and prompts of different classes are far
// apart; a mean over the template words made them 80 % alike, and the image model then needed
// thousands of steps before it followed them. The blocks can still carry the rest of the prompt
// into the last token.
// No projection when out_dim == dim (the text DiT's case): a shared Linear between the conditioning
// and a small DiT made learning hit-or-miss (a fixed random vector per class: 2 of 4 seeds learned
// nothing in 400 steps through RMSNorm + Linear, 4 of 4 learned through the RMSNorm alone). An empty prompt pools to zero, so the
// "null prompt" that classifier-free guidance needs adds nothing to the image model's conditioning.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

struct PromptEncoderConfig {
    int64_t vocab_size = 0;         ///< tokenizer vocabulary; id vocab_size is the pad token
    int64_t max_tokens = 32;        ///< longer prompts are truncated
    int64_t dim = 64;
    int64_t depth = 2;
    int64_t heads = 4;
    std::string attention = "mha";  ///< any attention kind except mla (no RoPE split configured here)
    int64_t kv_heads = 0;
    int64_t out_dim = 64;           ///< width of the pooled embedding (a Linear maps to it if != dim)
};

class RFLOW_API PromptEncoder : public Module {
public:
    PromptEncoder(const PromptEncoderConfig& cfg, Generator& gen);
    /// One row [out_dim] per prompt's token ids (ids in [0, vocab_size)).
    Tensor forward(const std::vector<std::vector<int64_t>>& tokens);
    const PromptEncoderConfig& config() const { return cfg_; }

private:
    struct Impl;
    PromptEncoderConfig cfg_;
    std::shared_ptr<Impl> impl_;
};

}  // namespace rflow::nn
