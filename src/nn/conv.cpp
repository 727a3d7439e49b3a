// Convolution and resampling layers with PyTorch's default initialisation.
#include "rflow/nn/conv.hpp"

#include <cmath>

#include "rflow/error.hpp"
#include "rflow/nn/init.hpp"

namespace rflow::nn {

namespace {

void check_channels(const char* layer, int64_t in, int64_t out, Int2 kernel, int64_t groups) {
    RFLOW_CHECK(in > 0 && out > 0, layer << " needs positive channel counts, got " << in << " -> " << out);
    RFLOW_CHECK(kernel.h > 0 && kernel.w > 0, layer << " needs a positive kernel size, got " << kernel.h << "x" << kernel.w);
    RFLOW_CHECK(groups > 0 && in % groups == 0 && out % groups == 0,
                layer << ": channels " << in << " -> " << out << " are not divisible by groups = " << groups);
}

// W ~ kaiming_uniform(a = sqrt(5)), b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's _ConvNd.reset_parameters
void default_init(Tensor& w, Tensor* b, Generator& gen) {
    init::kaiming_uniform_(w, gen, std::sqrt(5.f));
    if (!b) return;
    const float bound = 1.f / std::sqrt(static_cast<float>(init::fan_in(w)));
    init::uniform_(*b, gen, -bound, bound);
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Int2 kernel, Generator& gen, Int2 stride, Int2 padding,
               Int2 dilation, int64_t groups, bool bias)
    : in_(in_channels), out_(out_channels), stride_(stride), padding_(padding), dilation_(dilation), groups_(groups) {
    check_channels("Conv2d", in_channels, out_channels, kernel, groups);
    Tensor w = Tensor::empty({out_channels, in_channels / groups, kernel.h, kernel.w});
    Tensor b = bias ? Tensor::empty({out_channels}) : Tensor();
    default_init(w, bias ? &b : nullptr, gen);
    weight_ = register_parameter("weight", w);
    if (bias) bias_ = register_parameter("bias", b);
}

Tensor Conv2d::forward(const Tensor& x) {
    RFLOW_CHECK((x.dim() == 4 || x.dim() == 3) && x.size(-3) == in_,
                "Conv2d(" << in_ << " -> " << out_ << ") got input " << shape_str(x.shape()));
    Tensor y = conv2d(x, weight_, bias_, stride_, padding_, dilation_, groups_);
    return hook_ ? hook_(x, y) : y;
}

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, Int2 kernel, Generator& gen, Int2 stride,
                                 Int2 padding, Int2 output_padding, Int2 dilation, int64_t groups, bool bias)
    : in_(in_channels),
      out_(out_channels),
      stride_(stride),
      padding_(padding),
      output_padding_(output_padding),
      dilation_(dilation),
      groups_(groups) {
    check_channels("ConvTranspose2d", in_channels, out_channels, kernel, groups);
    Tensor w = Tensor::empty({in_channels, out_channels / groups, kernel.h, kernel.w});
    Tensor b = bias ? Tensor::empty({out_channels}) : Tensor();
    default_init(w, bias ? &b : nullptr, gen);
    weight_ = register_parameter("weight", w);
    if (bias) bias_ = register_parameter("bias", b);
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
    RFLOW_CHECK((x.dim() == 4 || x.dim() == 3) && x.size(-3) == in_,
                "ConvTranspose2d(" << in_ << " -> " << out_ << ") got input " << shape_str(x.shape()));
    return conv_transpose2d(x, weight_, bias_, stride_, padding_, output_padding_, dilation_, groups_);
}

Upsample::Upsample(Int2 scale) : scale_(scale) {
    RFLOW_CHECK(scale.h >= 1 && scale.w >= 1, "Upsample needs integer scales >= 1, got " << scale.h << "x" << scale.w);
}

AvgPool2d::AvgPool2d(Int2 kernel, Int2 stride) : kernel_(kernel), stride_(stride) {
    RFLOW_CHECK(kernel.h >= 1 && kernel.w >= 1 && stride.h >= 0 && stride.w >= 0,
                "AvgPool2d needs kernel >= 1 and stride >= 0 (0: the kernel), got kernel "
                    << kernel.h << "x" << kernel.w << ", stride " << stride.h << "x" << stride.w);
}

}  // namespace rflow::nn
