// Finite-difference gradient checks for every differentiable op, and second-order checks
// (gradient of a gradient norm) for the ops that trainers differentiate twice.
#include <doctest/doctest.h>

#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::check_grad2;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

namespace {

struct OpCase {
    const char* name;
    rflow::testing::Fn f;
    V inputs;
    bool second_order;
};

// Inputs kept away from kinks (|x| >= 0.2 for relu/abs/clamp edges) so differences are smooth.
Tensor away_from_zero(const Shape& s, uint64_t seed) {
    Tensor t = rand_tensor(s, seed, 0.2f, 1.2f);
    Tensor sign = rand_tensor(s, seed + 99, -1.f, 1.f);
    NoGradGuard ng;
    return where(gt(sign, 0.f), t, neg(t));
}

std::vector<OpCase> op_cases() {
    std::vector<OpCase> c;
    auto r = [](Shape s, uint64_t seed, float lo = -1.f, float hi = 1.f) { return rand_tensor(s, seed, lo, hi); };
    // element-wise binary with broadcasting
    c.push_back({"add", [](const V& x) { return add(x[0], x[1]); }, {r({3, 4}, 1), r({4}, 2)}, true});
    c.push_back({"sub", [](const V& x) { return sub(x[0], x[1]); }, {r({3, 1}, 3), r({2, 1, 4}, 4)}, true});
    c.push_back({"mul", [](const V& x) { return mul(x[0], x[1]); }, {r({3, 4}, 5), r({3, 1}, 6)}, true});
    c.push_back({"div", [](const V& x) { return div(x[0], x[1]); }, {r({3, 4}, 7), r({4}, 8, 0.5f, 1.5f)}, true});
    c.push_back({"maximum", [](const V& x) { return maximum(x[0], x[1]); }, {r({3, 4}, 9), r({3, 4}, 10)}, false});
    c.push_back({"minimum", [](const V& x) { return minimum(x[0], x[1]); }, {r({3, 4}, 11), r({4}, 12)}, false});
    c.push_back({"scalar ops", [](const V& x) { return (2.f - x[0] * 3.f + 1.f) / 2.f; }, {r({5}, 13)}, true});
    c.push_back({"neg", [](const V& x) { return neg(x[0]); }, {r({5}, 14)}, true});
    c.push_back({"pow", [](const V& x) { return pow(x[0], 2.5f); }, {r({2, 3}, 15, 0.5f, 1.5f)}, true});
    c.push_back({"pow(-1.5)", [](const V& x) { return pow(x[0], -1.5f); }, {r({2, 3}, 16, 0.5f, 1.5f)}, true});
    c.push_back({"square", [](const V& x) { return square(x[0]); }, {r({2, 3}, 17)}, true});
    c.push_back({"exp", [](const V& x) { return exp(x[0]); }, {r({2, 3}, 18)}, true});
    c.push_back({"log", [](const V& x) { return log(x[0]); }, {r({2, 3}, 19, 0.5f, 2.f)}, true});
    c.push_back({"sqrt", [](const V& x) { return sqrt(x[0]); }, {r({2, 3}, 20, 0.5f, 2.f)}, true});
    c.push_back({"rsqrt", [](const V& x) { return rsqrt(x[0]); }, {r({2, 3}, 21, 0.5f, 2.f)}, true});
    c.push_back({"abs", [](const V& x) { return abs(x[0]); }, {away_from_zero({2, 3}, 22)}, true});
    c.push_back({"relu", [](const V& x) { return relu(x[0]); }, {away_from_zero({2, 3}, 23)}, true});
    c.push_back({"silu", [](const V& x) { return silu(x[0]); }, {r({2, 3}, 24, -3.f, 3.f)}, true});
    c.push_back({"gelu", [](const V& x) { return gelu(x[0]); }, {r({2, 3}, 25, -3.f, 3.f)}, true});
    c.push_back({"tanh", [](const V& x) { return tanh(x[0]); }, {r({2, 3}, 26, -2.f, 2.f)}, true});
    c.push_back({"sigmoid", [](const V& x) { return sigmoid(x[0]); }, {r({2, 3}, 27, -3.f, 3.f)}, true});
    c.push_back({"softplus", [](const V& x) { return softplus(x[0]); }, {r({2, 3}, 28, -3.f, 3.f)}, true});
    c.push_back({"sin", [](const V& x) { return sin(x[0]); }, {r({2, 3}, 75, -3.f, 3.f)}, true});
    c.push_back({"cos", [](const V& x) { return cos(x[0]); }, {r({2, 3}, 76, -3.f, 3.f)}, true});
    c.push_back({"clamp", [](const V& x) { return clamp(x[0], -0.5f, 0.5f); }, {r({12}, 29, -1.f, 1.f)}, false});
    c.push_back({"where", [](const V& x) { return where(gt(x[0], 0.f), x[0], mul(x[1], 2.f)); },
                 {away_from_zero({3, 4}, 30), r({4}, 31)}, true});
    // reductions
    c.push_back({"sum all", [](const V& x) { return sum(x[0]); }, {r({3, 4}, 32)}, true});
    c.push_back({"sum axes", [](const V& x) { return sum(x[0], {0, 2}); }, {r({2, 3, 4}, 33)}, true});
    c.push_back({"sum keepdim", [](const V& x) { return sum(x[0], {-1}, true); }, {r({3, 4}, 34)}, true});
    c.push_back({"mean", [](const V& x) { return mean(x[0], {1}); }, {r({3, 4}, 35)}, true});
    c.push_back({"max", [](const V& x) { return max(x[0], {1}); }, {r({3, 5}, 36)}, false});
    c.push_back({"sum_to", [](const V& x) { return sum_to(x[0], {1, 4}); }, {r({2, 3, 4}, 37)}, true});
    // linear algebra
    c.push_back({"matmul", [](const V& x) { return matmul(x[0], x[1]); }, {r({3, 4}, 38), r({4, 5}, 39)}, true});
    c.push_back({"matmul batched", [](const V& x) { return matmul(x[0], x[1]); }, {r({2, 3, 4}, 40), r({2, 4, 2}, 41)}, true});
    c.push_back({"matmul broadcast", [](const V& x) { return matmul(x[0], x[1]); }, {r({2, 2, 3, 4}, 42), r({4, 2}, 43)}, true});
    c.push_back({"matmul transposed", [](const V& x) { return matmul(x[0].t(), x[1].t()); }, {r({4, 3}, 44), r({5, 4}, 45)}, true});
    c.push_back({"matmul vec", [](const V& x) { return matmul(x[0], x[1]); }, {r({3, 4}, 46), r({4}, 47)}, true});
    c.push_back({"linear", [](const V& x) { return linear(x[0], x[1], x[2]); }, {r({5, 3}, 48), r({4, 3}, 49), r({4}, 50)}, true});
    c.push_back({"linear 3d", [](const V& x) { return linear(x[0], x[1]); }, {r({2, 5, 3}, 51), r({4, 3}, 52)}, true});
    // softmax family and norms
    c.push_back({"softmax", [](const V& x) { return softmax(x[0]); }, {r({3, 5}, 53, -2.f, 2.f)}, true});
    c.push_back({"softmax dim0", [](const V& x) { return softmax(x[0], 0); }, {r({3, 5}, 54, -2.f, 2.f)}, true});
    c.push_back({"log_softmax", [](const V& x) { return log_softmax(x[0]); }, {r({3, 5}, 55, -2.f, 2.f)}, true});
    c.push_back({"layer_norm", [](const V& x) { return layer_norm(x[0], x[1], x[2]); },
                 {r({3, 6}, 56, -2.f, 2.f), r({6}, 57, 0.5f, 1.5f), r({6}, 58)}, true});
    // shape, joining and indexing
    c.push_back({"reshape", [](const V& x) { return mul(x[0].reshape({4, 3}), x[1]); }, {r({3, 4}, 59), r({3}, 60)}, true});
    c.push_back({"permute", [](const V& x) { return x[0].permute({2, 0, 1}) * 2.f; }, {r({2, 3, 4}, 61)}, true});
    c.push_back({"transpose", [](const V& x) { return x[0].transpose(0, 1).contiguous(); }, {r({3, 4}, 62)}, true});
    c.push_back({"slice", [](const V& x) { return x[0].slice(1, 1, 4, 2); }, {r({3, 5}, 63)}, true});
    c.push_back({"expand", [](const V& x) { return x[0].expand({3, 4}); }, {r({1, 4}, 64)}, true});
    c.push_back({"unsqueeze/squeeze", [](const V& x) { return x[0].unsqueeze(1).squeeze(1) * x[0]; }, {r({3, 4}, 65)}, true});
    c.push_back({"concat", [](const V& x) { return concat({x[0], x[1]}, 1); }, {r({2, 3}, 66), r({2, 2}, 67)}, true});
    c.push_back({"stack", [](const V& x) { return stack({x[0], x[1]}, 0); }, {r({2, 3}, 68), r({2, 3}, 69)}, true});
    c.push_back({"split", [](const V& x) { auto p = split(x[0], {1, 3}, 1); return mul(p[0], p[1]); }, {r({3, 4}, 70)}, true});
    c.push_back({"index_select", [](const V& x) { return index_select(x[0], 0, {2, 0, 2}); }, {r({3, 4}, 71)}, true});
    c.push_back({"index_add", [](const V& x) { return index_add({4, 2}, 0, {1, 3, 1}, x[0]); }, {r({3, 2}, 72)}, true});
    c.push_back({"gather_rows", [](const V& x) { return gather_rows(x[0], {1, 0, 3}); }, {r({3, 4}, 73)}, true});
    c.push_back({"clone", [](const V& x) { return x[0].clone(); }, {r({3}, 74)}, true});
    return c;
}

}  // namespace

TEST_CASE("every op matches central differences (first order)") {
    for (const OpCase& c : op_cases()) {
        CAPTURE(c.name);
        auto res = check_grad(c.f, c.inputs);
        INFO(res.report);
        CHECK(res.ok);
    }
}

TEST_CASE("second-order: gradient of a gradient norm matches central differences") {
    int checked = 0;
    for (const OpCase& c : op_cases()) {
        if (!c.second_order) continue;
        CAPTURE(c.name);
        auto res = check_grad2(c.f, c.inputs);
        INFO(res.report);
        CHECK(res.ok);
        ++checked;
    }
    CHECK(checked >= 40);
}

TEST_CASE("gradient checks can fail: a wrong backward is caught") {
    // an op whose recorded backward is deliberately off by a factor 2
    rflow::testing::Fn wrong = [](const V& x) {
        Tensor out = exp(x[0]).detach();
        return record(out, "bad_exp", {x[0]}, [a = x[0]](const Tensor& g, const std::vector<bool>&) {
            return std::vector<Tensor>{mul(mul(g, exp(a)), 2.f)};
        });
    };
    CHECK_FALSE(check_grad(wrong, {rand_tensor({4}, 1)}).ok);
}

TEST_CASE("second-order checks can fail: a backward that is not differentiable is caught") {
    // first derivative right, but computed from detached values: its own derivative is lost
    rflow::testing::Fn opaque = [](const V& x) {
        Tensor out = tanh(x[0]).detach();
        return record(out, "opaque_tanh", {x[0]}, [a = x[0]](const Tensor& g, const std::vector<bool>&) {
            Tensor t = tanh(a.detach());
            return std::vector<Tensor>{mul(g, rsub(square(t), 1.f))};
        });
    };
    Tensor x = rand_tensor({5}, 3, -1.5f, 1.5f);
    CHECK(check_grad(opaque, {x}).ok);
    CHECK_FALSE(check_grad2(opaque, {x}).ok);
}
