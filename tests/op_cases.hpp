// Shared test cases: every differentiable op with inputs (core, image and attention ops) and the
// convolution geometries. The gradient checks (test_ops_grad, test_conv) and the cross-backend test
// (test_backend_ops) loop over the same lists, so an op added here is checked everywhere.
#pragma once

#include <string>
#include <vector>

#include <rflow/conv_ops.hpp>

#include "gradcheck.hpp"

namespace rflow::testing {

struct OpCase {
    std::string name;
    Fn f;
    std::vector<Tensor> inputs;
    bool second_order;
};

/// Element-wise, reductions, linear algebra, softmax and norms, views, joining and indexing.
std::vector<OpCase> core_op_cases();
/// conv2d and its adjoints over several geometries, resampling, group norm, dropout, a small critic.
std::vector<OpCase> image_op_cases();
/// scaled_dot_product_attention (grouped, causal) and RoPE.
std::vector<OpCase> attention_op_cases();

/// One conv2d geometry.
struct ConvCase {
    int64_t n, cin, cout, h, w, kh, kw, sh, sw, ph, pw, dh, dw, groups;
    Int2 stride() const { return {sh, sw}; }
    Int2 padding() const { return {ph, pw}; }
    Int2 dilation() const { return {dh, dw}; }
    int64_t ho() const { return conv2d_out_size(h, kh, sh, ph, dh); }
    int64_t wo() const { return conv2d_out_size(w, kw, sw, pw, dw); }
    Shape x_shape() const { return {n, cin, h, w}; }
    Shape w_shape() const { return {cout, cin / groups, kh, kw}; }
    Shape y_shape() const { return {n, cout, ho(), wo()}; }
    // output_padding that makes conv_transpose2d return exactly [h, w]
    Int2 output_padding() const {
        return {h - ((ho() - 1) * sh - 2 * ph + dh * (kh - 1) + 1), w - ((wo() - 1) * sw - 2 * pw + dw * (kw - 1) + 1)};
    }
};

/// Geometries covering padding, stride, dilation, groups, 1x1, odd sizes and batch folding.
std::vector<ConvCase> conv_cases();
std::string describe(const ConvCase& c);

}  // namespace rflow::testing
