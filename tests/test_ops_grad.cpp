// Finite-difference gradient checks for every differentiable op, and second-order checks
// (gradient of a gradient norm) for the ops that trainers differentiate twice.
#include <doctest/doctest.h>

#include "gradcheck.hpp"
#include "op_cases.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::check_grad2;
using rflow::testing::rand_tensor;
using rflow::testing::core_op_cases;
using rflow::testing::OpCase;
using V = std::vector<Tensor>;


TEST_CASE("every op matches central differences (first order)") {
    for (const OpCase& c : core_op_cases()) {
        CAPTURE(c.name);
        auto res = check_grad(c.f, c.inputs);
        INFO(res.report);
        CHECK(res.ok);
    }
}

TEST_CASE("second-order: gradient of a gradient norm matches central differences") {
    int checked = 0;
    for (const OpCase& c : core_op_cases()) {
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
