// The class-conditioning contract every image backbone keeps (U-Net, DiT): labels change the output,
// the null label (num_classes) is the unconditional model, bad labels are errors, and guidance gives
// v_u + w (v_c - v_u). For x [2, ...] with outputs depending on the label (zero-initialised output
// layers randomised first).
#pragma once

#include <doctest/doctest.h>

#include <rflow/autograd.hpp>
#include <rflow/nn/velocity_model.hpp>
#include <rflow/ops.hpp>
#include <rflow/trainers/guidance.hpp>

#include "gradcheck.hpp"

namespace rflow::testing {

inline void check_class_conditioning(nn::VelocityModel& net, const Tensor& x, const Tensor& t) {
    NoGradGuard ng;
    const int64_t null = net.num_classes();
    REQUIRE(null >= 3);
    Tensor a = net.forward(x, t, {0, 0}), b = net.forward(x, t, {1, 1}), u = net.forward(x, t, {null, null});
    CHECK(max_abs_diff(a, b) > 1e-4);
    CHECK(max_abs_diff(u, net.forward(x, t)) == 0.0);
    CHECK_THROWS_AS(net.forward(x, t, {null + 1, 0}), Error);
    CHECK_THROWS_AS(net.forward(x, t, {0}), Error);
    // guidance: v = v_u + w (v_c - v_u), one batched pass
    const std::vector<int64_t> labels{0, 2};
    const Tensor v0 = trainers::guided_velocity(net, labels, 0.f)(x, t);
    const Tensor v1 = trainers::guided_velocity(net, labels, 1.f)(x, t);
    const Tensor v2 = trainers::guided_velocity(net, labels, 2.f)(x, t);
    CHECK(max_abs_diff(v0, u) < 1e-6);
    CHECK(max_abs_diff(v1, net.forward(x, t, labels)) < 1e-6);
    CHECK(max_abs_diff(v2, sub(mul(v1, 2.f), v0)) < 1e-5);
    CHECK_THROWS_WITH_AS(trainers::guided_velocity(net, labels, 2.f)(x.slice(0, 0, 1), t.slice(0, 0, 1)),
                         doctest::Contains("batch-wide"), Error);
}

}  // namespace rflow::testing
