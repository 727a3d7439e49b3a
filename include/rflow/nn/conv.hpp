// Convolution and resampling layers on images [N, C, H, W]: Conv2d, ConvTranspose2d, Upsample
// (nearest) and AvgPool2d, with PyTorch's parameter layouts and default initialisation.
#pragma once

#include <functional>

#include "rflow/conv_ops.hpp"
#include "rflow/nn/module.hpp"
#include "rflow/philox.hpp"

namespace rflow::nn {

/// y = conv2d(x, W, b, stride, padding, dilation, groups); W [out, in / groups, kh, kw], b [out].
class RFLOW_API Conv2d : public Module {
public:
    /// W ~ kaiming_uniform(a = sqrt(5)) and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    /// fan_in = in / groups * kh * kw, as PyTorch's default. Errors for channels not divisible by groups.
    Conv2d(int64_t in_channels, int64_t out_channels, Int2 kernel, Generator& gen, Int2 stride = 1,
           Int2 padding = 0, Int2 dilation = 1, int64_t groups = 1, bool bias = true);
    Tensor forward(const Tensor& x) override;
    Tensor& weight() { return weight_; }
    Tensor& bias() { return bias_; }  ///< undefined when built without bias
    int64_t in_channels() const { return in_; }
    int64_t out_channels() const { return out_; }
    Int2 stride() const { return stride_; }
    Int2 padding() const { return padding_; }
    Int2 dilation() const { return dilation_; }
    int64_t groups() const { return groups_; }
    /// An adapter's hook on the output, as Linear's (nn/lora.hpp); null removes it.
    using OutputHook = std::function<Tensor(const Tensor& x, const Tensor& y)>;
    void set_output_hook(OutputHook hook) { hook_ = std::move(hook); }
    bool has_output_hook() const { return static_cast<bool>(hook_); }

private:
    int64_t in_, out_;
    Int2 stride_, padding_, dilation_;
    int64_t groups_;
    Tensor weight_, bias_;
    OutputHook hook_;
};

/// y = conv_transpose2d(x, W, b, ...); W [in, out / groups, kh, kw] (PyTorch's layout), b [out].
/// Up-samples by `stride`: Ho = (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.
class RFLOW_API ConvTranspose2d : public Module {
public:
    /// PyTorch's default init, with fan_in = out / groups * kh * kw (PyTorch reads W's dim 1).
    ConvTranspose2d(int64_t in_channels, int64_t out_channels, Int2 kernel, Generator& gen, Int2 stride = 1,
                    Int2 padding = 0, Int2 output_padding = 0, Int2 dilation = 1, int64_t groups = 1,
                    bool bias = true);
    Tensor forward(const Tensor& x) override;
    Tensor& weight() { return weight_; }
    Tensor& bias() { return bias_; }

private:
    int64_t in_, out_;
    Int2 stride_, padding_, output_padding_, dilation_;
    int64_t groups_;
    Tensor weight_, bias_;
};

/// Nearest-neighbour up-sampling by an integer factor per axis (no parameters).
class RFLOW_API Upsample : public Module {
public:
    explicit Upsample(Int2 scale = 2);
    Tensor forward(const Tensor& x) override { return upsample_nearest2d(x, scale_); }

private:
    Int2 scale_;
};

/// Average pooling over kernel windows moved by stride (0: stride = kernel), no padding.
class RFLOW_API AvgPool2d : public Module {
public:
    explicit AvgPool2d(Int2 kernel, Int2 stride = 0);
    Tensor forward(const Tensor& x) override { return avg_pool2d(x, kernel_, stride_); }

private:
    Int2 kernel_, stride_;
};

}  // namespace rflow::nn
