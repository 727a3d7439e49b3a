// Text conditioning: captions (templates, synonyms, prompt -> class), the prompt encoder (gradient
// check, padding never changes a prompt's embedding, the empty prompt), and the text-conditioned DiT
// (labels mean their captions, the null label is the empty prompt, training captions are sampled
// segmentations of real captions, and flow-matching training lowers the loss).
#include <doctest/doctest.h>

#include <rflow/autograd.hpp>
#include <rflow/data/captions.hpp>
#include <rflow/data/tokenizer.hpp>
#include <rflow/nn/prompt_encoder.hpp>
#include <rflow/nn/text_dit.hpp>
#include <rflow/ops.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/trainers/coupling.hpp>
#include <rflow/trainers/flow_matching.hpp>
#include <rflow/trainers/guidance.hpp>

#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;

namespace {

data::UnigramTokenizer caption_tokenizer() {
    data::UnigramTrainOptions o;
    o.vocab_size = 300;
    return data::UnigramTokenizer::train(data::fashion_mnist_captions().all_captions(), o);
}

nn::TextDiTConfig tiny_text_dit() {
    nn::TextDiTConfig c;
    c.dit.image_size = 8, c.dit.patch = 4, c.dit.dim = 16, c.dit.depth = 1, c.dit.heads = 2;
    c.encoder.dim = 16, c.encoder.depth = 1, c.encoder.heads = 2, c.encoder.max_tokens = 12;
    c.captions = data::fashion_mnist_captions();
    c.seed = 3;
    return c;
}

// Gives the zero-initialised adaLN and output layers random weights, so outputs depend on the prompt.
void randomise_zero_layers(nn::Module& m) {
    NoGradGuard ng;
    uint64_t seed = 50;
    for (auto& [name, p] : m.named_parameters())
        if (name.find("ada") != std::string::npos || name.find("final") != std::string::npos)
            p.copy_(rand_tensor(p.shape(), seed++, -0.3f, 0.3f));
}

}  // namespace

TEST_CASE("captions: templates over synonyms, canonical captions, and the class a prompt names") {
    const data::CaptionSet& c = data::fashion_mnist_captions();
    CHECK(c.num_classes() == 10);
    CHECK(c.canonical_caption(7) == "a photo of a sneaker");
    CHECK(c.prompt_class("a pair of sneakers") == 7);
    CHECK(c.prompt_class("A photo of an ANKLE BOOT") == 9);  // longest match: not "boot" alone... both 9
    CHECK(c.prompt_class("a t-shirt") == 0);                 // not "shirt"
    CHECK(c.prompt_class("a blue shirt") == 6);
    CHECK(c.prompt_class("a spaceship") == -1);
    Generator g(1);
    for (int i = 0; i < 50; ++i) {
        const int64_t cls = i % 10;
        CHECK(c.prompt_class(c.random_caption(cls, g)) == cls);  // every caption names its class
    }
    CHECK(c.all_captions().size() == c.templates.size() * 34);
    CHECK_THROWS_AS(c.canonical_caption(10), Error);
}

TEST_CASE("prompt encoder: gradient check, padding-independent embeddings, the empty prompt") {
    Generator g(2);
    nn::PromptEncoderConfig cfg;
    cfg.vocab_size = 20, cfg.max_tokens = 6, cfg.dim = 8, cfg.depth = 1, cfg.heads = 2, cfg.out_dim = 5;
    nn::PromptEncoder enc(cfg, g);
    const std::vector<std::vector<int64_t>> prompts{{3, 4, 5}, {7}, {}};
    const Tensor both = enc.forward(prompts);
    CHECK(both.shape() == Shape{3, 5});
    // a prompt's embedding does not depend on the other prompts in its batch
    CHECK(max_abs_diff(enc.forward({{7}}), both.slice(0, 1, 2)) < 1e-6);
    CHECK(max_abs_diff(enc.forward({{3, 4, 5}}), both.slice(0, 0, 1)) < 1e-6);
    CHECK(max_abs_diff(both.slice(0, 2, 3), Tensor::zeros({1, 5})) == 0.0);  // the null prompt adds nothing
    // the residual branches start at zero (the last token's embedding); once they are not, the other
    // tokens and their order matter (RoPE). Long prompts are truncated to max_tokens.
    CHECK(max_abs_diff(enc.forward({{4, 3, 5}}), both.slice(0, 0, 1)) < 1e-6);  // pooled at the last token
    {
        NoGradGuard ng;
        uint64_t seed = 70;
        for (auto& [name, p] : enc.named_parameters())
            if (name.find("fc2") != std::string::npos || name.find("attn.out") != std::string::npos)
                p.copy_(rand_tensor(p.shape(), seed++, -0.5f, 0.5f));
    }
    CHECK(max_abs_diff(enc.forward({{4, 3, 5}}), enc.forward({{3, 4, 5}})) > 1e-4);
    CHECK(max_abs_diff(enc.forward({{1, 2, 3, 4, 5, 6, 7, 8}}), enc.forward({{1, 2, 3, 4, 5, 6}})) < 1e-6);
    CHECK_THROWS_WITH_AS(enc.forward({{20}}), doctest::Contains("token id 20"), Error);
    // gradient with respect to every weight
    std::vector<Tensor> inputs;
    for (const Tensor& p : enc.parameters()) inputs.push_back(p);
    rflow::testing::Fn f = [&](const std::vector<Tensor>&) { return enc.forward(prompts); };
    auto r = check_grad(f, inputs);
    CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("text DiT: labels are their captions, the null label is the empty prompt, training samples segmentations") {
    Generator g(4);
    nn::TextDiT model(tiny_text_dit(), caption_tokenizer(), g);
    randomise_zero_layers(model);
    const Tensor x = rand_tensor({3, 1, 8, 8}, 5), t = Tensor::from_vector({0.2f, 0.5f, 0.9f}, {3});
    model.eval();
    const data::CaptionSet& c = model.config().captions;
    const Tensor by_label = model.forward(x, t, {7, 2, 10});
    const Tensor by_prompt = model.forward_prompts(x, t, {c.canonical_caption(7), c.canonical_caption(2), ""});
    CHECK(max_abs_diff(by_label, by_prompt) < 1e-6);
    CHECK(max_abs_diff(model.forward(x, t), model.forward_prompts(x, t, {"", "", ""})) < 1e-6);
    CHECK(max_abs_diff(model.forward_prompts(x, t, {"a bag", "a bag", "a bag"}),
                       model.forward_prompts(x, t, {"a dress", "a dress", "a dress"})) > 1e-4);
    CHECK_THROWS_AS(model.forward(x, t, {11, 0, 0}), Error);
    // guidance over prompts is the shared mechanism: v_u + w (v_c - v_u) with the empty prompt as v_u
    const std::vector<std::string> bag(3, "a bag");
    const samplers::VelocityField guided = trainers::guided_velocity(
        [&](const Tensor& xx, const Tensor& tt, const std::vector<bool>& cond) {
            std::vector<std::string> p;
            for (bool c : cond) p.push_back(c ? "a bag" : "");
            return model.forward_prompts(xx, tt, p);
        },
        2.f);
    const Tensor vc = model.forward_prompts(x, t, bag), vu = model.forward_prompts(x, t, {"", "", ""});
    CHECK(max_abs_diff(guided(x, t), sub(mul(vc, 2.f), vu)) < 1e-5);
    // training mode: random captions with sampled segmentations; eval mode: deterministic
    model.train();
    const Tensor a = model.forward(x, t, {7, 7, 7}), b = model.forward(x, t, {7, 7, 7});
    CHECK(max_abs_diff(a, b) > 1e-6);
    model.eval();
    CHECK(max_abs_diff(model.forward(x, t, {7, 7, 7}), model.forward(x, t, {7, 7, 7})) == 0.0);
    // the tokenizer's sampled segmentations decode back to the caption
    Generator s(9);
    const std::string caption = c.random_caption(3, s);
    for (int i = 0; i < 20; ++i) CHECK(model.tokenizer().decode(model.tokenizer().sample(caption, 0.1, s)) == caption);
}

TEST_CASE("text DiT: flow-matching training on captions makes samples follow their prompts") {
    Generator g(6);
    nn::TextDiTConfig cfg = tiny_text_dit();
    cfg.captions.templates = {"a {}"};  // one caption per class: the full caption set (synonyms, templates)
    // needs the Fashion-MNIST scale of docs/text-results.md; at this toy scale 1,000 steps learn this one
    for (auto& p : cfg.captions.phrases) p.resize(1);
    cfg.sampling_alpha = -1;
    nn::TextDiT model(cfg, caption_tokenizer(), g);
    // two classes of 8x8 images: a bright top half (class 0) or a bright bottom half (class 7)
    std::vector<float> img(2 * 64, -1.f);
    for (int i = 0; i < 32; ++i) img[i] = 1.f, img[64 + 32 + i] = 1.f;
    const Tensor protos = Tensor::from_vector(img, {2, 1, 8, 8});
    trainers::LabeledDataSource source = [&](int64_t n, Generator& gen) {
        std::vector<int64_t> pick(static_cast<size_t>(n));
        gen.randint(pick.data(), n, 0, 2);
        std::vector<int64_t> labels;
        for (int64_t p : pick) labels.push_back(p == 0 ? 0 : 7);
        return std::make_pair(index_select(protos, 0, pick), labels);
    };
    optim::AdamOptions ao;
    ao.lr = 3e-3f;
    optim::Adam opt(model.parameters(), ao);
    trainers::FlowMatchingConfig fc;
    fc.batch = 32;
    fc.steps = 1000;
    fc.seed = 1;
    trainers::FlowMatchingTrainer trainer(model, opt, trainers::labeled_coupling(source), fc);
    trainer.train();
    const auto& l = trainer.losses();
    double first = 0, last = 0;
    for (int i = 0; i < 10; ++i) first += l[i] / 10, last += l[l.size() - 1 - i] / 10;
    MESSAGE("loss over the first 10 steps " << first << ", last 10 " << last);
    CHECK(last < 0.6 * first);
    // and it follows the prompt: Euler samples (10 steps from noise) of each prompt look like its class
    model.eval();
    NoGradGuard ng;
    Generator ng_gen(12);
    const int64_t m = 16;
    const Tensor noise = Tensor::normal({m, 1, 8, 8}, ng_gen);
    Tensor x = concat({noise, noise}, 0);  // the same noise for both prompts
    std::vector<std::string> prompts(m, "a t-shirt");
    prompts.insert(prompts.end(), m, "a sneaker");
    for (int k = 0; k < 10; ++k) x = add(x, mul(model.forward_prompts(x, Tensor::full({2 * m}, k / 10.f), prompts), 0.1f));
    const std::vector<float> vv = x.to_vector();
    auto half = [&](int which, bool top) {  // mean over the prompt's m images of one half
        double s = 0;
        for (int64_t k = 0; k < m; ++k)
            for (int i = 0; i < 32; ++i) s += vv[(which * m + k) * 64 + (top ? 0 : 32) + i] / (32.0 * m);
        return s;
    };
    MESSAGE("t-shirt prompt: top " << half(0, true) << ", bottom " << half(0, false) << "; sneaker prompt: top "
                                   << half(1, true) << ", bottom " << half(1, false));
    CHECK(half(0, true) > half(0, false) + 0.3);
    CHECK(half(1, false) > half(1, true) + 0.3);
}
