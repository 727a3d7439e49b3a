// Attention: the tiled kernel against the materialised reference (forward, backward, odd sizes,
// grouped heads, causal offsets), gradient checks for the op and every registered variant, SPEC 4.f
// (GQA reductions with tied weights, MLA naive = absorbed, RoPE relative property, cache sizes) and
// token-by-token decoding with the KV cache against the full forward.
#include <doctest/doctest.h>

#include <cmath>
#include <rflow/attention_ops.hpp>
#include <rflow/autograd.hpp>
#include <rflow/nn/attention.hpp>
#include <rflow/nn/attention_scale.hpp>
#include <rflow/ops.hpp>

#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::check_grad2;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

namespace {

double max_abs(const Tensor& t) {
    double m = 0;
    for (float v : t.to_vector()) m = std::max(m, static_cast<double>(std::fabs(v)));
    return m;
}

/// max |a - b| / max |b|
double rel_diff(const Tensor& a, const Tensor& b) { return max_abs_diff(a, b) / std::max(max_abs(b), 1e-30); }

nn::AttentionConfig layer_config(const std::string& kind) {
    nn::AttentionConfig c;
    c.kind = kind;
    c.dim = 8;
    c.heads = 4;
    c.head_dim = 4;
    if (kind == "gqa") c.kv_heads = 2;
    if (kind == "mla") c.kv_latent = 6, c.q_latent = 5, c.rope_dim = 4, c.rope = "1d";
    return c;
}

/// Copies a's parameters into b (same names and shapes).
void tie(nn::Module& from, nn::Module& to) { to.load_state_dict(from.state_dict()); }

}  // namespace

TEST_CASE("tiled attention equals the materialised reference: odd sizes, groups, causal offsets") {
    struct Case {
        int64_t b, h, g, lq, lk, dk, dv;
        bool causal;
    };
    const std::vector<Case> cases{{1, 1, 1, 1, 1, 3, 2, false}, {2, 4, 2, 7, 7, 5, 3, true},
                                  {1, 2, 1, 65, 65, 8, 8, true}, {2, 3, 3, 70, 131, 4, 6, false},
                                  {1, 4, 4, 3, 130, 6, 5, true},  {1, 2, 2, 129, 129, 3, 7, true},
                                  {3, 4, 1, 1, 67, 8, 8, true}};
    uint64_t seed = 10;
    for (const Case& c : cases) {
        CAPTURE(c.lq);
        CAPTURE(c.lk);
        CAPTURE(c.g);
        Tensor q = rand_tensor({c.b, c.h, c.lq, c.dk}, seed++, -2.f, 2.f).requires_grad_(true);
        Tensor k = rand_tensor({c.b, c.g, c.lk, c.dk}, seed++, -2.f, 2.f).requires_grad_(true);
        Tensor v = rand_tensor({c.b, c.g, c.lk, c.dv}, seed++).requires_grad_(true);
        const Tensor w = rand_tensor({c.b, c.h, c.lq, c.dv}, seed++);
        const float scale = 0.7f;
        Tensor tiled = scaled_dot_product_attention(q, k, v, scale, c.causal);
        Tensor ref = attention_reference(q, k, v, scale, c.causal);
        CHECK(tiled.shape() == Shape{c.b, c.h, c.lq, c.dv});
        CHECK(max_abs_diff(tiled, ref) < 2e-6);
        const V gt = grad({sum(mul(tiled, w))}, {q, k, v});
        const V gr = grad({sum(mul(ref, w))}, {q, k, v});
        for (int i = 0; i < 3; ++i) CHECK(max_abs_diff(gt[i], gr[i]) < 1e-5);
    }
    // the first query of a causal block appended after cached keys sees exactly the keys up to it
    Tensor q = rand_tensor({1, 1, 1, 4}, 1), k = rand_tensor({1, 1, 5, 4}, 2), v = rand_tensor({1, 1, 5, 2}, 3);
    CHECK(max_abs_diff(scaled_dot_product_attention(q, k, v, 1.f, true),
                       scaled_dot_product_attention(q, k, v, 1.f, false)) < 1e-7);
    CHECK_THROWS_WITH_AS(scaled_dot_product_attention(rand_tensor({1, 4, 2, 4}, 1), rand_tensor({1, 3, 2, 4}, 2),
                                                      rand_tensor({1, 3, 2, 4}, 3), 1.f),
                         doctest::Contains("groups do not divide"), Error);
    CHECK_THROWS_WITH_AS(scaled_dot_product_attention(k, q, q, 1.f, true), doctest::Contains("more queries"), Error);
}

TEST_CASE("attention op: first- and second-order finite-difference checks (grouped, causal)") {
    for (bool causal : {false, true}) {
        rflow::testing::Fn f = [causal](const V& x) { return scaled_dot_product_attention(x[0], x[1], x[2], 0.8f, causal); };
        CHECK(check_grad(f, {rand_tensor({1, 2, 3, 4}, 5), rand_tensor({1, 1, 4, 4}, 6), rand_tensor({1, 1, 4, 3}, 7)}).ok);
        CHECK(check_grad2(f, {rand_tensor({1, 2, 3, 2}, 8), rand_tensor({1, 1, 3, 2}, 9), rand_tensor({1, 1, 3, 2}, 10)})
                  .ok);
    }
    rflow::testing::Fn r = [](const V& x) {
        Tensor c, s;
        rope_tables_1d({0, 3, 4}, 4, 10000.f, c, s);
        return rope(x[0], c, s);
    };
    CHECK(check_grad(r, {rand_tensor({2, 3, 4}, 11)}).ok);
}

TEST_CASE("every registered attention variant passes finite-difference checks (self, cross, causal)") {
    CHECK(nn::attention_kinds() == std::vector<std::string>{"gqa", "mha", "mla", "mqa"});
    for (const std::string& kind : nn::attention_kinds()) {
        CAPTURE(kind);
        Generator g(3);
        nn::AttentionConfig c = layer_config(kind);
        c.causal = true;
        auto attn = nn::make_attention(c, g);
        rflow::testing::Fn f = [&](const V& x) { return attn->forward(x[0]); };
        CHECK(check_grad(f, {rand_tensor({2, 3, 8}, 12)}).ok);
        // with respect to every weight too; second order through the input and the first projection
        V inputs{rand_tensor({1, 3, 8}, 14)};
        for (const Tensor& p : attn->parameters()) inputs.push_back(p);
        auto r1 = check_grad(f, inputs);
        CHECK_MESSAGE(r1.ok, r1.report);
        auto r2 = check_grad2(f, {inputs[0], inputs[1]});
        CHECK_MESSAGE(r2.ok, r2.report);
        nn::AttentionConfig cc = layer_config(kind);
        cc.context_dim = 5;
        cc.rope = "none", cc.rope_dim = 0;
        auto cross = nn::make_attention(cc, g);
        rflow::testing::Fn fc = [&](const V& x) { return cross->forward(x[0], x[1]); };
        CHECK(cross->forward(rand_tensor({2, 3, 8}, 1), rand_tensor({2, 6, 5}, 2)).shape() == Shape{2, 3, 8});
        CHECK(check_grad(fc, {rand_tensor({1, 2, 8}, 15), rand_tensor({1, 4, 5}, 16)}).ok);
        CHECK_THROWS_WITH_AS(cross->forward(rand_tensor({1, 2, 8}, 1)), doctest::Contains("cross-attention"), Error);
    }
}

TEST_CASE("GQA: g = h is MHA, g = 1 is MQA, and head s reads group s g / h (tied weights)") {
    Generator gen(7);
    const Tensor x = rand_tensor({2, 5, 8}, 20);
    nn::AttentionConfig mha = layer_config("mha"), gqa = layer_config("gqa"), mqa = layer_config("mqa");
    auto a_mha = nn::make_attention(mha, gen);
    gqa.kv_heads = 4;
    auto a_g4 = nn::make_attention(gqa, gen);
    tie(*a_mha, *a_g4);
    CHECK(max_abs_diff(a_g4->forward(x), a_mha->forward(x)) == 0.0);
    auto a_mqa = nn::make_attention(mqa, gen);
    gqa.kv_heads = 1;
    auto a_g1 = nn::make_attention(gqa, gen);
    tie(*a_mqa, *a_g1);
    CHECK(max_abs_diff(a_g1->forward(x), a_mqa->forward(x)) == 0.0);
    // GQA with g = 2 equals MHA whose head s copies group s g / h's key and value weights
    gqa.kv_heads = 2;
    auto a_g2 = nn::make_attention(gqa, gen);
    auto a_rep = nn::make_attention(mha, gen);
    {
        NoGradGuard ng;
        const int64_t h = 4, g = 2, d = 4;
        nn::NamedTensors src = a_g2->state_dict(), dst = a_rep->state_dict();
        auto find = [](nn::NamedTensors& t, const std::string& n) -> Tensor& {
            for (auto& [k, v] : t)
                if (k == n) return v;
            FAIL("no " << n);
            return t[0].second;
        };
        const Tensor sw = find(src, "qkv.weight"), sb = find(src, "qkv.bias");
        Tensor dw = find(dst, "qkv.weight"), db = find(dst, "qkv.bias");
        dw.slice(0, 0, h * d).copy_(sw.slice(0, 0, h * d));
        db.slice(0, 0, h * d).copy_(sb.slice(0, 0, h * d));
        for (int64_t s = 0; s < h; ++s)
            for (int64_t part = 0; part < 2; ++part) {  // k then v
                const int64_t grp = s * g / h;
                const int64_t from = h * d + part * g * d + grp * d, to = h * d + part * h * d + s * d;
                dw.slice(0, to, to + d).copy_(sw.slice(0, from, from + d));
                db.slice(0, to, to + d).copy_(sb.slice(0, from, from + d));
            }
        find(dst, "out.weight").copy_(find(src, "out.weight"));
        find(dst, "out.bias").copy_(find(src, "out.bias"));
    }
    CHECK(max_abs_diff(a_g2->forward(x), a_rep->forward(x)) < 1e-6);
}

TEST_CASE("MLA: the absorbed (MQA) form equals the naive (MHA) form on SPEC 4.f's toy sizes") {
    for (bool causal : {false, true}) {
        nn::AttentionConfig c;
        c.kind = "mla";
        c.dim = 64, c.heads = 4, c.head_dim = 16, c.kv_latent = 24, c.q_latent = 32, c.rope_dim = 8, c.rope = "1d";
        c.causal = causal;
        Generator g1(11), g2(11);
        auto naive = nn::make_attention(c, g1);
        c.absorbed = true;
        auto absorbed = nn::make_attention(c, g2);
        const Tensor x = rand_tensor({2, 9, 64}, 21, -2.f, 2.f);
        const double rel = rel_diff(absorbed->forward(x), naive->forward(x));
        MESSAGE("fp32 relative difference naive vs absorbed (causal " << causal << "): " << rel);
        CHECK(rel < 5e-6);
        CHECK(naive->qk_dim() == 24);
        CHECK(naive->softmax_scale(9) == doctest::Approx(1 / std::sqrt(24.0)));
    }
}

TEST_CASE("RoPE: scores depend on positions only through their difference (1-D and 2-D axial)") {
    const Tensor q = rand_tensor({1, 2, 6, 8}, 30), k = rand_tensor({1, 2, 6, 8}, 31);
    auto scores = [&](const std::vector<int64_t>& pos, bool two_d) {
        Tensor c, s;
        if (two_d) rope_tables_2d(pos, 5, 8, 100.f, c, s);
        else rope_tables_1d(pos, 8, 100.f, c, s);
        return matmul(rope(q, c, s), rope(k, c, s).transpose(2, 3));
    };
    const std::vector<int64_t> pos{0, 1, 2, 5, 6, 7};
    std::vector<int64_t> shifted1 = pos, shifted2 = pos;
    for (auto& p : shifted1) p += 13;
    for (auto& p : shifted2) p += 5 * 3 + 2;  // three rows down, two columns right (none wrap)
    CHECK(max_abs_diff(scores(shifted1, false), scores(pos, false)) < 2e-5);
    CHECK(max_abs_diff(scores(shifted2, true), scores(pos, true)) < 2e-5);
    // and RoPE is a rotation: it keeps norms, and position 0 is the identity
    Tensor c, s;
    rope_tables_1d({0, 0, 0, 0, 0, 0}, 8, 100.f, c, s);
    CHECK(max_abs_diff(rope(q, c, s), q) == 0.0);
    rope_tables_1d(shifted1, 8, 100.f, c, s);
    CHECK(max_abs_diff(sum(square(rope(q, c, s)), {-1}), sum(square(q), {-1})) < 1e-5);
    CHECK(max_abs_diff(scores(shifted1, false), matmul(q, k.transpose(2, 3))) > 1e-2);  // positions do matter
}

TEST_CASE("KV cache: per-token sizes follow SPEC 4.c (576 for DeepSeek-V2) and the cache holds that much") {
    Generator g(5);
    nn::AttentionConfig c;
    c.dim = 64, c.heads = 8, c.head_dim = 16, c.causal = true;
    c.kind = "mha";
    CHECK(nn::make_attention(c, g)->cache_floats_per_token() == 2 * 8 * 16);
    c.kind = "gqa", c.kv_heads = 2;
    CHECK(nn::make_attention(c, g)->cache_floats_per_token() == 2 * 2 * 16);
    c.kind = "mqa", c.kv_heads = 0;
    CHECK(nn::make_attention(c, g)->cache_floats_per_token() == 2 * 16);
    c.kind = "mla", c.kv_latent = 24, c.rope_dim = 8, c.rope = "1d";
    for (int64_t heads : {2, 8}) {  // MLA's cache does not depend on h
        c.heads = heads;
        CHECK(nn::make_attention(c, g)->cache_floats_per_token() == 32);
    }
    // DeepSeek-V2: d = 5120, h = 128, d_k = 128, d_c = 512, d'_c = 1536, d_r = 64
    nn::AttentionConfig ds;
    ds.kind = "mla", ds.dim = 5120, ds.heads = 128, ds.head_dim = 128, ds.kv_latent = 512, ds.q_latent = 1536;
    ds.rope_dim = 64, ds.rope = "1d", ds.causal = true;
    CHECK(nn::make_attention(ds, g)->cache_floats_per_token() == 576);
    ds.kind = "mha", ds.kv_latent = ds.q_latent = ds.rope_dim = 0, ds.rope = "none";
    CHECK(nn::make_attention(ds, g)->cache_floats_per_token() == 32768);
}

TEST_CASE("KV cache: decoding token by token equals the full causal forward, for every variant") {
    for (const std::string& kind : nn::attention_kinds()) {
        for (const std::string& scale : {"default", "gradmax"}) {
            CAPTURE(kind);
            CAPTURE(scale);
            nn::AttentionConfig c = layer_config(kind);
            c.causal = true;
            c.scale = scale;
            c.max_len = 16;
            if (kind != "mla") c.rope = "1d";
            Generator g(9);
            auto attn = nn::make_attention(c, g);
            const Tensor x = rand_tensor({2, 7, 8}, 40, -2.f, 2.f);
            const Tensor full = attn->forward(x);
            nn::KVCache cache;
            std::vector<Tensor> rows;
            rows.push_back(attn->forward_cached(x.slice(1, 0, 3), cache));  // a prefill of 3, then one at a time
            for (int64_t t = 3; t < 7; ++t) rows.push_back(attn->forward_cached(x.slice(1, t, t + 1), cache));
            CHECK(cache.length == 7);
            CHECK(cache.floats_per_token() == attn->cache_floats_per_token());
            CHECK(rel_diff(concat(rows, 1), full) < 2e-6);
        }
    }
    Generator g(1);
    auto not_causal = nn::make_attention(layer_config("mha"), g);
    nn::KVCache cache;
    CHECK_THROWS_WITH_AS(not_causal->forward_cached(rand_tensor({1, 1, 8}, 1), cache), doctest::Contains("causal"),
                         Error);
}

TEST_CASE("attention config: scale policies by name, clear errors for inconsistent settings") {
    Generator g(2);
    nn::AttentionConfig c = layer_config("mha");
    c.scale = "gradmax";
    auto a = nn::make_attention(c, g);
    CHECK(a->softmax_scale(512) == doctest::Approx(nn::gradmax_alpha(512) / 2.0).epsilon(1e-6));
    c.causal = true, c.max_len = 1024;  // causal: n = max_len / 2 whatever the number of keys
    CHECK(nn::make_attention(c, g)->softmax_scale(7) == doctest::Approx(nn::gradmax_alpha(512) / 2.0).epsilon(1e-6));
    c.scale = "logn", c.causal = false;
    CHECK(nn::make_attention(c, g)->softmax_scale(512) == doctest::Approx(0.5));
    c.scale = "cosine";
    auto cosine = nn::make_attention(c, g);
    CHECK(cosine->softmax_scale(4096) == doctest::Approx(nn::gradmax_alpha_cosine(4096, 4)).epsilon(1e-6));
    CHECK(std::isfinite(cosine->forward(rand_tensor({1, 5, 8}, 3)).to_vector()[0]));
    auto err = [&](nn::AttentionConfig bad, const char* text) {
        CHECK_THROWS_WITH_AS(nn::make_attention(bad, g), doctest::Contains(text), Error);
    };
    nn::AttentionConfig bad = layer_config("gqa");
    bad.kv_heads = 3;
    err(bad, "kv_heads dividing heads");
    bad = layer_config("mla"), bad.kv_latent = 0;
    err(bad, "kv_latent");
    bad = layer_config("mla"), bad.scale = "cosine";
    err(bad, "cosine");
    bad = layer_config("mha"), bad.kind = "sparse";
    err(bad, "unknown kind 'sparse'");
    bad = layer_config("mha"), bad.scale = "gradmax", bad.causal = true;
    err(bad, "max_len");
    bad = layer_config("mha"), bad.context_dim = 4, bad.causal = true;
    err(bad, "self-attention only");
    bad = layer_config("mha"), bad.rope_dim = 4;
    err(bad, "mla settings");
}
