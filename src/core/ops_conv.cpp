// Differentiable image ops: conv2d and its two adjoints, resampling, group norm, dropout.
//
// Convolution is bilinear; write C(x, w) = conv2d, T(y, w) = its adjoint in x (conv2d_input,
// a transposed convolution) and W(x, y) = its adjoint in w (conv2d_weight), so that
//   <C(x, w), y> = <x, T(y, w)> = <w, W(x, y)>.
// Differentiating each pairing gives every backward in terms of the other two maps:
//   y = C(x, w):  dx = T(g, w),  dw = W(x, g)
//   x = T(y, w):  dy = C(g, w),  dw = W(g, y)
//   w = W(x, y):  dx = T(y, g),  dy = C(x, g)
// and since those are recorded ops too, gradients of gradients come out to any order.
#include <cmath>

#include "op_util.hpp"
#include "rflow/conv_ops.hpp"
#include "rflow/ops.hpp"

namespace rflow {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;
using backend::ConvParams;

namespace {

const backend::Backend& image_backend(Device d, const char* op) {
    const backend::Backend& be = backend::get(d);
    RFLOW_CHECK(be.conv2d && be.conv2d_input && be.conv2d_weight && be.group_norm && be.group_norm_backward &&
                    be.upsample_nearest2d && be.sum_pool2d,
                op << ": the " << device_name(d) << " backend has no image kernels");
    return be;
}

Tensor channel_sum(const Tensor& g) { return sum(g, {0, 2, 3}); }  // db of a per-channel bias

Tensor conv_fwd(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p);
Tensor conv_in(const Tensor& y, const Tensor& w, const Tensor& b, const Shape& xs, const ConvParams& p);

// w = W(x, y)
Tensor conv_wt(const Tensor& x_in, const Tensor& y_in, const Shape& ws, const ConvParams& p) {
    const Tensor x = x_in.contiguous(), y = y_in.contiguous();
    Tensor out = make_tensor(ws, x.device());
    image_backend(x.device(), "conv2d_weight").conv2d_weight(x, y, out, p);
    return record(out, "conv2d_weight", {x, y}, [x, y, p](const Tensor& g, const Needs& n) {
        return Grads{n[0] ? conv_in(y, g, Tensor(), x.shape(), p) : Tensor(),
                     n[1] ? conv_fwd(x, g, Tensor(), p) : Tensor()};
    });
}

// x = T(y, w) + b
Tensor conv_in(const Tensor& y_in, const Tensor& w_in, const Tensor& b, const Shape& xs, const ConvParams& p) {
    const Tensor y = y_in.contiguous(), w = w_in.contiguous();
    Tensor out = make_tensor(xs, y.device());
    image_backend(y.device(), "conv2d_input").conv2d_input(y, w, b.defined() ? b.detach() : Tensor(), out, p);
    std::vector<Tensor> inputs{y, w};
    if (b.defined()) inputs.push_back(b);
    return record(out, "conv2d_input", inputs, [y, w, p](const Tensor& g, const Needs& n) {
        Grads gr{n[0] ? conv_fwd(g, w, Tensor(), p) : Tensor(), n[1] ? conv_wt(g, y, w.shape(), p) : Tensor()};
        if (n.size() > 2) gr.push_back(n[2] ? channel_sum(g) : Tensor());
        return gr;
    });
}

// y = C(x, w) + b
Tensor conv_fwd(const Tensor& x_in, const Tensor& w_in, const Tensor& b, const ConvParams& p) {
    const Tensor x = x_in.contiguous(), w = w_in.contiguous();
    const Shape ys{x.size(0), w.size(0), conv2d_out_size(x.size(2), w.size(2), p.sh, p.ph, p.dh),
                   conv2d_out_size(x.size(3), w.size(3), p.sw, p.pw, p.dw)};
    Tensor out = make_tensor(ys, x.device());
    image_backend(x.device(), "conv2d").conv2d(x, w, b.defined() ? b.detach() : Tensor(), out, p);
    std::vector<Tensor> inputs{x, w};
    if (b.defined()) inputs.push_back(b);
    return record(out, "conv2d", inputs, [x, w, p](const Tensor& g, const Needs& n) {
        Grads gr{n[0] ? conv_in(g, w, Tensor(), x.shape(), p) : Tensor(),
                 n[1] ? conv_wt(x, g, w.shape(), p) : Tensor()};
        if (n.size() > 2) gr.push_back(n[2] ? channel_sum(g) : Tensor());
        return gr;
    });
}

// Validates a conv geometry: x [N, C, H, W] -> y [N, Co, Ho, Wo] with w [Co, C / groups, kh, kw].
ConvParams conv_params(const char* op, const Shape& xs, const Shape& ws, Int2 stride, Int2 padding, Int2 dilation,
                       int64_t groups) {
    RFLOW_CHECK(xs.size() == 4, op << ": input must be [N, C, H, W], got " << shape_str(xs));
    RFLOW_CHECK(ws.size() == 4, op << ": weight must be 4-D, got " << shape_str(ws));
    RFLOW_CHECK(stride.h >= 1 && stride.w >= 1, op << ": stride must be >= 1, got (" << stride.h << ", " << stride.w << ")");
    RFLOW_CHECK(dilation.h >= 1 && dilation.w >= 1,
                op << ": dilation must be >= 1, got (" << dilation.h << ", " << dilation.w << ")");
    RFLOW_CHECK(padding.h >= 0 && padding.w >= 0,
                op << ": padding must be >= 0, got (" << padding.h << ", " << padding.w << ")");
    RFLOW_CHECK(groups >= 1, op << ": groups must be >= 1, got " << groups);
    RFLOW_CHECK(ws[2] >= 1 && ws[3] >= 1, op << ": empty kernel " << shape_str(ws));
    RFLOW_CHECK(xs[1] % groups == 0 && ws[0] % groups == 0,
                op << ": channels (" << xs[1] << " in, " << ws[0] << " out) are not divisible by groups = " << groups);
    RFLOW_CHECK(ws[1] * groups == xs[1], op << ": weight " << shape_str(ws) << " expects " << ws[1] * groups
                                            << " input channels (groups = " << groups << "), input "
                                            << shape_str(xs) << " has " << xs[1]);
    ConvParams p{stride.h, stride.w, padding.h, padding.w, dilation.h, dilation.w, groups};
    const int64_t ho = conv2d_out_size(xs[2], ws[2], p.sh, p.ph, p.dh);
    const int64_t wo = conv2d_out_size(xs[3], ws[3], p.sw, p.pw, p.dw);
    RFLOW_CHECK(ho >= 1 && wo >= 1, op << ": kernel " << ws[2] << "x" << ws[3] << " (dilation " << dilation.h << "x"
                                       << dilation.w << ") does not fit the padded input " << shape_str(xs));
    return p;
}

// A per-channel vector (bias, norm weight) must be [channels] when given.
void check_bias(const char* op, const Tensor& b, int64_t channels, const char* what = "bias") {
    if (b.defined())
        RFLOW_CHECK(b.dim() == 1 && b.size(0) == channels,
                    op << ": " << what << " must be [" << channels << "], got " << shape_str(b.shape()));
}

Tensor upsample_op(const Tensor& x, Int2 s);

// sum of each kh x kw block (x's size a multiple of k); the adjoint of nearest up-sampling
Tensor sum_pool_op(const Tensor& x, Int2 k) {
    Tensor out = make_tensor({x.size(0), x.size(1), x.size(2) / k.h, x.size(3) / k.w}, x.device());
    image_backend(x.device(), "avg_pool2d").sum_pool2d(x, out, k.h, k.w);
    return record(out, "sum_pool2d", {x}, [k](const Tensor& g, const Needs&) { return Grads{upsample_op(g, k)}; });
}

Tensor upsample_op(const Tensor& x, Int2 s) {
    Tensor out = make_tensor({x.size(0), x.size(1), x.size(2) * s.h, x.size(3) * s.w}, x.device());
    image_backend(x.device(), "upsample_nearest2d").upsample_nearest2d(x, out, s.h, s.w);
    return record(out, "upsample_nearest2d", {x}, [s](const Tensor& g, const Needs&) { return Grads{sum_pool_op(g, s)}; });
}

}  // namespace

int64_t conv2d_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
    const int64_t span = in + 2 * padding - dilation * (kernel - 1) - 1;
    return span < 0 ? 0 : span / stride + 1;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Int2 stride, Int2 padding, Int2 dilation,
              int64_t groups) {
    if (x.dim() == 3) return conv2d(x.unsqueeze(0), w, b, stride, padding, dilation, groups).squeeze(0);
    detail::common_device(x, w, "conv2d");
    const ConvParams p = conv_params("conv2d", x.shape(), w.shape(), stride, padding, dilation, groups);
    check_bias("conv2d", b, w.size(0));
    return conv_fwd(x, w, b, p);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, Int2 stride, Int2 padding,
                        Int2 output_padding, Int2 dilation, int64_t groups) {
    if (x.dim() == 3)
        return conv_transpose2d(x.unsqueeze(0), w, b, stride, padding, output_padding, dilation, groups).squeeze(0);
    detail::common_device(x, w, "conv_transpose2d");
    RFLOW_CHECK(x.dim() == 4 && w.dim() == 4, "conv_transpose2d: input must be [N, C, H, W] and weight 4-D, got "
                                                  << shape_str(x.shape()) << " and " << shape_str(w.shape()));
    RFLOW_CHECK(groups >= 1 && x.size(1) % groups == 0,
                "conv_transpose2d: input channels " << x.size(1) << " are not divisible by groups = " << groups);
    RFLOW_CHECK(w.size(0) == x.size(1), "conv_transpose2d: weight " << shape_str(w.shape()) << " expects "
                                            << w.size(0) << " input channels, input " << shape_str(x.shape())
                                            << " has " << x.size(1));
    RFLOW_CHECK(stride.h >= 1 && stride.w >= 1 && output_padding.h >= 0 && output_padding.w >= 0 &&
                    output_padding.h < stride.h && output_padding.w < stride.w,
                "conv_transpose2d: output_padding (" << output_padding.h << ", " << output_padding.w
                                                     << ") must be >= 0 and smaller than the stride (" << stride.h
                                                     << ", " << stride.w << ")");
    const int64_t cout = w.size(1) * groups;
    const int64_t ho = (x.size(2) - 1) * stride.h - 2 * padding.h + dilation.h * (w.size(2) - 1) + output_padding.h + 1;
    const int64_t wo = (x.size(3) - 1) * stride.w - 2 * padding.w + dilation.w * (w.size(3) - 1) + output_padding.w + 1;
    RFLOW_CHECK(ho >= 1 && wo >= 1, "conv_transpose2d: padding (" << padding.h << ", " << padding.w
                                        << ") leaves no output for input " << shape_str(x.shape()));
    const Shape out_shape{x.size(0), cout, ho, wo};
    // the conv this is the adjoint of maps [N, cout, ho, wo] back to x's shape
    const ConvParams p = conv_params("conv_transpose2d", out_shape, w.shape(), stride, padding, dilation, groups);
    check_bias("conv_transpose2d", b, cout);
    return conv_in(x, w, b, out_shape, p);
}

Tensor conv2d_input(const Tensor& grad_y, const Tensor& w, const Shape& x_shape, Int2 stride, Int2 padding,
                    Int2 dilation, int64_t groups) {
    detail::common_device(grad_y, w, "conv2d_input");
    const ConvParams p = conv_params("conv2d_input", x_shape, w.shape(), stride, padding, dilation, groups);
    const Shape ys{x_shape[0], w.size(0), conv2d_out_size(x_shape[2], w.size(2), p.sh, p.ph, p.dh),
                   conv2d_out_size(x_shape[3], w.size(3), p.sw, p.pw, p.dw)};
    RFLOW_CHECK(grad_y.shape() == ys, "conv2d_input: grad_y " << shape_str(grad_y.shape()) << " is not the conv2d output "
                                                              << shape_str(ys) << " of " << shape_str(x_shape));
    return conv_in(grad_y, w, Tensor(), x_shape, p);
}

Tensor conv2d_weight(const Tensor& x, const Tensor& grad_y, const Shape& w_shape, Int2 stride, Int2 padding,
                     Int2 dilation, int64_t groups) {
    detail::common_device(x, grad_y, "conv2d_weight");
    const ConvParams p = conv_params("conv2d_weight", x.shape(), w_shape, stride, padding, dilation, groups);
    const Shape ys{x.size(0), w_shape[0], conv2d_out_size(x.size(2), w_shape[2], p.sh, p.ph, p.dh),
                   conv2d_out_size(x.size(3), w_shape[3], p.sw, p.pw, p.dw)};
    RFLOW_CHECK(grad_y.shape() == ys, "conv2d_weight: grad_y " << shape_str(grad_y.shape())
                                                               << " is not the conv2d output " << shape_str(ys));
    return conv_wt(x, grad_y, w_shape, p);
}

Tensor upsample_nearest2d(const Tensor& x, Int2 scale) {
    RFLOW_CHECK(x.dim() == 4, "upsample_nearest2d: input must be [N, C, H, W], got " << shape_str(x.shape()));
    RFLOW_CHECK(scale.h >= 1 && scale.w >= 1,
                "upsample_nearest2d: scale must be >= 1, got (" << scale.h << ", " << scale.w << ")");
    if (scale.h == 1 && scale.w == 1) return x;
    return upsample_op(x, scale);
}

Tensor avg_pool2d(const Tensor& x, Int2 kernel, Int2 stride) {
    RFLOW_CHECK(x.dim() == 4, "avg_pool2d: input must be [N, C, H, W], got " << shape_str(x.shape()));
    if (stride == Int2(0)) stride = kernel;
    RFLOW_CHECK(kernel.h >= 1 && kernel.w >= 1 && stride.h >= 1 && stride.w >= 1,
                "avg_pool2d: kernel and stride must be >= 1, got kernel (" << kernel.h << ", " << kernel.w
                                                                          << "), stride (" << stride.h << ", "
                                                                          << stride.w << ")");
    RFLOW_CHECK(x.size(2) >= kernel.h && x.size(3) >= kernel.w,
                "avg_pool2d: kernel " << kernel.h << "x" << kernel.w << " is larger than the input "
                                      << shape_str(x.shape()));
    const int64_t ho = (x.size(2) - kernel.h) / stride.h + 1, wo = (x.size(3) - kernel.w) / stride.w + 1;
    const float inv = 1.f / static_cast<float>(kernel.h * kernel.w);
    if (stride == kernel) {  // non-overlapping windows: sum each block (rows and columns past the last dropped)
        Tensor xs = x;
        if (ho * kernel.h != x.size(2)) xs = xs.slice(2, 0, ho * kernel.h);
        if (wo * kernel.w != x.size(3)) xs = xs.slice(3, 0, wo * kernel.w);
        return mul(sum_pool_op(xs.contiguous(), kernel), inv);
    }
    // overlapping windows: every channel convolved with a constant kernel
    const int64_t n = x.size(0), c = x.size(1);
    Tensor w = Tensor::full({1, 1, kernel.h, kernel.w}, inv, x.device());
    return conv2d(x.reshape({n * c, 1, x.size(2), x.size(3)}), w, Tensor(), stride).reshape({n, c, ho, wo});
}

namespace {

// group_norm, followed by SiLU in the same kernel when `then_silu` (y = GN(x), out = silu(y); y is
// not kept: the backward recomputes it from x and the statistics).
Tensor group_norm_op(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps,
                     bool then_silu) {
    const char* name = then_silu ? "group_norm_silu" : "group_norm";
    RFLOW_CHECK(x.dim() >= 2, name << ": input must be [N, C, *], got " << shape_str(x.shape()));
    const int64_t n = x.size(0), c = x.size(1);
    RFLOW_CHECK(groups >= 1 && c % groups == 0,
                name << ": " << c << " channels are not divisible by groups = " << groups);
    check_bias(name, weight, c, "weight");
    check_bias(name, bias, c);
    const Tensor xc = x.contiguous();
    Tensor out = make_tensor(x.shape(), x.device()), mu = make_tensor({n, groups}, x.device()),
           rs = make_tensor({n, groups}, x.device());
    const Tensor w = weight.defined() ? weight.detach() : Tensor();
    const Tensor b = bias.defined() ? bias.detach() : Tensor();
    const backend::Backend& be = image_backend(x.device(), name);
    (then_silu ? be.group_norm_silu : be.group_norm)(xc, w, b, out, mu, rs, groups, eps);
    std::vector<Tensor> inputs{xc};
    if (weight.defined()) inputs.push_back(weight);
    if (bias.defined()) inputs.push_back(bias);
    Shape cshape(x.dim() - 1, 1);  // [C, 1, ..., 1]: broadcasts over positions
    cshape[0] = c;
    std::vector<int64_t> axes{0};  // every axis but the channels
    for (int64_t d = 2; d < x.dim(); ++d) axes.push_back(d);
    const bool has_w = weight.defined(), has_b = bias.defined();
    return record(out, name, inputs, [=](const Tensor& g_out, const Needs& need) {
        const bool need_w = has_w && need[1], need_b = has_b && need[has_w ? 2 : 1];
        Tensor dx, dw, db;
        if (!grad_enabled()) {  // first order only: one fused pass (backend)
            if (need[0]) dx = make_tensor(xc.shape(), xc.device());
            if (need_w) dw = make_tensor({c}, xc.device());
            if (need_b) db = make_tensor({c}, xc.device());
            const backend::Backend& bk = backend::get(xc.device());
            if (then_silu) bk.group_norm_silu_backward(xc, w, b, mu, rs, g_out, dx, dw, db, groups);
            else bk.group_norm_backward(xc, w, mu, rs, g_out, dx, dw, db, groups);
        } else {  // differentiable: xhat = (x - mu) r recomputed per (n, group) block with ops, then
            // dx = r (gw - mean(gw) - xhat mean(gw xhat)) with gw = g w,  dw = sum(g xhat),  db = sum(g),
            // g the gradient at the norm's output: g_out silu'(y), y = xhat w + b, after a SiLU
            const Tensor xr = xc.reshape({n, groups, -1});
            const Tensor xm = sub(xr, mean(xr, {-1}, true));
            const Tensor r = rsqrt(add(mean(square(xm), {-1}, true), eps));
            const Tensor h = mul(xm, r);
            Tensor g = g_out;
            if (then_silu) {  // g_out silu'(y), y = xhat w + b recomputed
                Tensor y = h.reshape(xc.shape());
                if (has_w) y = mul(y, weight.reshape(cshape));
                if (has_b) y = add(y, bias.reshape(cshape));
                g = detail::silu_backward(g_out, y);
            }
            if (need[0]) {
                const Tensor gw = (has_w ? mul(g, weight.reshape(cshape)) : g).reshape({n, groups, -1});
                const Tensor inner = sub(sub(gw, mean(gw, {-1}, true)), mul(h, mean(mul(gw, h), {-1}, true)));
                dx = mul(r, inner).reshape(xc.shape());
            }
            if (need_w) dw = sum(mul(g, h.reshape(xc.shape())), axes);
            if (need_b) db = sum(g, axes);
        }
        Grads gr{dx};
        if (has_w) gr.push_back(dw);
        if (has_b) gr.push_back(db);
        return gr;
    });
}

}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps) {
    return group_norm_op(x, groups, weight, bias, eps, false);
}

Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps) {
    if (!backend::get(x.device()).group_norm_silu) return silu(group_norm(x, groups, weight, bias, eps));
    return group_norm_op(x, groups, weight, bias, eps, true);
}

Tensor dropout(const Tensor& x, float p, Generator& gen, bool training) {
    RFLOW_CHECK(p >= 0.f && p <= 1.f, "dropout: p must lie in [0, 1], got " << p);
    if (!training || p == 0.f) return x;
    if (p == 1.f) return mul(x, 0.f);
    // mask m / (1 - p) with m = [u > p], u the Philox words at (seed, stream, start): a constant,
    // so y = x * mask differentiates in x only. The backward draws the same words again rather
    // than keeping the mask (one activation-sized tensor less per dropout while the graph lives).
    const uint64_t seed = gen.seed(), stream = gen.stream(), start = gen.reserve(static_cast<uint64_t>(x.numel()));
    const Shape shape = x.shape();
    const Device device = x.device();
    auto make_mask = [=] {
        NoGradGuard ng;
        Tensor u = make_tensor(shape, device);
        backend::get(device).uniform(u, seed, stream, start, 0.f, 1.f);
        return mul(gt(u, p), 1.f / (1.f - p));
    };
    Tensor out;
    {
        NoGradGuard ng;
        out = mul(x, make_mask());
    }
    return record(out, "dropout", {x}, [make_mask](const Tensor& g, const std::vector<bool>&) {
        return std::vector<Tensor>{mul(g, make_mask())};
    });
}

}  // namespace rflow
