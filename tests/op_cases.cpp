// The shared op cases and convolution geometries (see op_cases.hpp).
#include "op_cases.hpp"

#include <sstream>

#include <rflow/attention_ops.hpp>
#include <rflow/autograd.hpp>
#include <rflow/conv_ops.hpp>
#include <rflow/ops.hpp>

namespace rflow::testing {

using V = std::vector<Tensor>;

namespace {

// Inputs kept away from kinks (|x| >= 0.2 for relu/abs/clamp edges) so differences are smooth.
Tensor away_from_zero(const Shape& s, uint64_t seed) {
    Tensor t = rand_tensor(s, seed, 0.2f, 1.2f);
    Tensor sign = rand_tensor(s, seed + 99, -1.f, 1.f);
    NoGradGuard ng;
    return where(gt(sign, 0.f), t, neg(t));
}

}  // namespace

std::vector<OpCase> core_op_cases() {
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


// Every op with its three conv maps over a few geometries (first and second order, as in a critic).
std::vector<OpCase> image_op_cases() {
    std::vector<OpCase> k;
    auto r = [](Shape s, uint64_t seed, float lo = -1.f, float hi = 1.f) { return rand_tensor(s, seed, lo, hi); };
    auto h = [](Shape s, uint64_t seed) { return rand_tensor(s, seed, -0.5f, 0.5f); };  // keeps sums small
    uint64_t seed = 100;
    // second order on the first geometry only: central differences of a sum of squared gradients
    // lose float precision as inputs grow
    for (const ConvCase& c : {ConvCase{2, 2, 4, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1, 2}, ConvCase{2, 4, 4, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1, 2},
                              ConvCase{1, 2, 3, 6, 5, 2, 3, 1, 1, 1, 0, 2, 1, 1}, ConvCase{3, 3, 2, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},
                              ConvCase{2, 2, 2, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2}}) {
        const Int2 op = c.output_padding();
        const bool second = seed == 100;
        k.push_back({"conv2d " + describe(c), [c](const V& v) { return conv2d(v[0], v[1], v[2], c.stride(), c.padding(), c.dilation(), c.groups); },
                     {h(c.x_shape(), ++seed), h(c.w_shape(), ++seed), h({c.cout}, ++seed)}, second});
        k.push_back({"conv_transpose2d " + describe(c), [c, op](const V& v) {
                         return conv_transpose2d(v[0], v[1], v[2], c.stride(), c.padding(), op, c.dilation(), c.groups); },
                     {h(c.y_shape(), ++seed), h(c.w_shape(), ++seed), h({c.cin}, ++seed)}, second});
        k.push_back({"conv2d_weight " + describe(c), [c](const V& v) {
                         return conv2d_weight(v[0], v[1], c.w_shape(), c.stride(), c.padding(), c.dilation(), c.groups); },
                     {h(c.x_shape(), ++seed), h(c.y_shape(), ++seed)}, second});
        k.push_back({"conv2d_input " + describe(c), [c](const V& v) {
                         return conv2d_input(v[0], v[1], c.x_shape(), c.stride(), c.padding(), c.dilation(), c.groups); },
                     {h(c.y_shape(), ++seed), h(c.w_shape(), ++seed)}, second});
    }
    // squares make the resampling ops' second derivatives non-zero
    k.push_back({"conv2d dilated", [](const V& v) { return conv2d(v[0], v[1], Tensor(), 1, 2, 2); },
                 {r({1, 2, 5, 4}, 43), r({2, 2, 3, 3}, 44)}, true});
    k.push_back({"upsample", [](const V& v) { return upsample_nearest2d(mul(v[0], v[0]), 2); }, {h({2, 2, 2, 3}, 25)}, true});
    k.push_back({"upsample 1x3", [](const V& v) { return upsample_nearest2d(v[0], {1, 3}); }, {r({2, 2, 3, 2}, 24)}, false});
    k.push_back({"avg_pool k=s", [](const V& v) { return avg_pool2d(mul(v[0], v[0]), 2); }, {h({2, 2, 4, 5}, 26)}, true});
    k.push_back({"avg_pool k!=s", [](const V& v) { return avg_pool2d(mul(v[0], v[0]), 2, 1); }, {h({1, 2, 3, 4}, 27)}, true});
    k.push_back({"avg_pool 3, stride (1, 2)", [](const V& v) { return avg_pool2d(v[0], 3, {1, 2}); }, {r({2, 2, 5, 6}, 23)}, false});
    k.push_back({"group_norm", [](const V& v) { return group_norm(v[0], 2, v[1], v[2]); },
                 {r({2, 4, 2, 3}, 28, -2.f, 2.f), r({4}, 29, 0.5f, 1.5f), r({4}, 30)}, true});
    k.push_back({"group_norm plain", [](const V& v) { return group_norm(v[0], 3); }, {r({2, 6, 2, 3}, 31, -2.f, 2.f)}, false});
    k.push_back({"group_norm_silu", [](const V& v) { return group_norm_silu(v[0], 2, v[1], v[2]); },
                 {r({2, 4, 2, 3}, 62, -2.f, 2.f), r({4}, 63, 0.5f, 1.5f), r({4}, 64)}, true});
    k.push_back({"group_norm_silu plain", [](const V& v) { return group_norm_silu(v[0], 3); },
                 {r({2, 6, 2, 3}, 65, -2.f, 2.f)}, true});
    k.push_back({"dropout", [](const V& v) { Generator g(5); return dropout(v[0], 0.4f, g); }, {r({3, 4, 5}, 32)}, false});
    // a small WGAN-GP critic: conv -> silu -> group norm -> pool -> up -> strided conv -> score
    k.push_back({"critic", [](const V& v) {
                     Tensor h = silu(conv2d(v[0], v[1], v[2], 1, 1));
                     h = avg_pool2d(group_norm(h, 2, v[3], v[4]), 2);
                     return sum(conv2d(upsample_nearest2d(h, 2), v[5], Tensor(), 2, 1), {1, 2, 3});
                 },
                 {r({2, 2, 4, 4}, 56), r({4, 2, 3, 3}, 57), r({4}, 58), r({4}, 59, 0.5f, 1.5f), r({4}, 60), r({1, 4, 3, 3}, 61)},
                 true});
    return k;
}


std::vector<OpCase> attention_op_cases() {
    std::vector<OpCase> k;
    for (bool causal : {false, true}) {
        const std::string tag = causal ? " causal" : "";
        Fn f = [causal](const V& x) { return scaled_dot_product_attention(x[0], x[1], x[2], 0.8f, causal); };
        k.push_back({"attention grouped" + tag, f,
                     {rand_tensor({1, 2, 3, 4}, 5), rand_tensor({1, 1, 4, 4}, 6), rand_tensor({1, 1, 4, 3}, 7)}, false});
        k.push_back({"attention small" + tag, f,
                     {rand_tensor({1, 2, 3, 2}, 8), rand_tensor({1, 1, 3, 2}, 9), rand_tensor({1, 1, 3, 2}, 10)}, true});
    }
    k.push_back({"rope", [](const V& x) {
                     Tensor c, s;
                     rope_tables_1d({0, 3, 4}, 4, 10000.f, c, s);
                     return rope(x[0], c, s);
                 },
                 {rand_tensor({2, 3, 4}, 11)}, true});
    return k;
}

std::vector<ConvCase> conv_cases() {
    //        n  cin cout h   w  kh kw sh sw ph pw dh dw groups
    return {
        {2, 3, 4, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1, 1},     // plain 3x3
        {2, 3, 4, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // same padding
        {2, 3, 4, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1},     // stride 2
        {1, 2, 3, 8, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1},     // dilation 2, padding 2
        {2, 4, 6, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 2},     // groups 2
        {2, 4, 4, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 4},     // depthwise
        {2, 4, 8, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 4},     // depthwise, multiplier 2, stride 2
        {3, 5, 7, 6, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1x1 (plain GEMM)
        {3, 4, 6, 6, 7, 1, 1, 2, 2, 0, 0, 1, 1, 2},     // 1x1, stride 2, groups 2
        {2, 3, 2, 5, 9, 2, 3, 1, 2, 0, 1, 1, 1, 1},     // non-square kernel and stride
        {2, 3, 4, 9, 7, 5, 5, 2, 1, 2, 2, 1, 1, 1},     // 5x5, padding 2
        {2, 2, 3, 7, 7, 3, 1, 1, 1, 1, 0, 2, 1, 1},     // 3x1, dilation (2, 1)
        {2, 2, 2, 3, 3, 3, 3, 1, 1, 2, 2, 1, 1, 1},     // rows made only of padding
        {2, 3, 3, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, 1},     // stride larger than the kernel
        {20, 3, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // small images: samples folded into one GEMM
        {7, 4, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1x1 folded
        {40, 8, 16, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},   // many folded blocks
        {1, 16, 8, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // one large image (work split inside)
        {5, 6, 4, 12, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // a few mid-sized images
        {1, 32, 32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1}, // one image, GEMM rows split across threads
        {2, 3, 4, 4, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1},     // 1x1 with padding
        {2, 3, 2, 5, 5, 3, 1, 1, 1, 1, 1, 1, 1, 1},     // 3x1 padded along its width of 1
    };
}

std::string describe(const ConvCase& c) {
    std::ostringstream os;
    os << "x " << shape_str(c.x_shape()) << " w " << shape_str(c.w_shape()) << " stride " << c.sh << "x" << c.sw
       << " pad " << c.ph << "x" << c.pw << " dil " << c.dh << "x" << c.dw << " groups " << c.groups;
    return os.str();
}

}  // namespace rflow::testing
