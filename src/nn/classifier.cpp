// Small CNN classifier: [N,C,S,S] -conv3x3,SiLU,avgpool2-> [N,w,S/2,S/2] -conv3x3,SiLU,avgpool2->
// [N,2w,S/4,S/4] -flatten,linear,SiLU-> features -linear-> logits.
#include "rflow/nn/classifier.hpp"

#include "rflow/conv_ops.hpp"
#include "rflow/error.hpp"
#include "rflow/nn/conv.hpp"
#include "rflow/nn/linear.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

Classifier::Classifier(const ClassifierConfig& c, Generator& gen) : cfg_(c) {
    RFLOW_CHECK(c.image_size % 4 == 0 && c.num_classes > 1 && c.width > 0,
                "Classifier needs image_size divisible by 4, num_classes > 1, width > 0");
    conv1_ = register_module("conv1", std::make_shared<Conv2d>(c.in_channels, c.width, 3, gen, 1, 1));
    conv2_ = register_module("conv2", std::make_shared<Conv2d>(c.width, 2 * c.width, 3, gen, 1, 1));
    const int64_t flat = 2 * c.width * (c.image_size / 4) * (c.image_size / 4);
    fc1_ = register_module("fc1", std::make_shared<Linear>(flat, c.features, gen));
    fc2_ = register_module("fc2", std::make_shared<Linear>(c.features, c.num_classes, gen));
}

Tensor Classifier::features(const Tensor& x) {
    RFLOW_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels && x.size(2) == cfg_.image_size,
                "Classifier expects [N, " << cfg_.in_channels << ", " << cfg_.image_size << ", " << cfg_.image_size
                                          << "], got " << shape_str(x.shape()));
    Tensor h = avg_pool2d(silu(conv1_->forward(x)), 2);
    h = avg_pool2d(silu(conv2_->forward(h)), 2);
    return silu(fc1_->forward(h.reshape({x.size(0), -1})));
}

Tensor Classifier::forward(const Tensor& x) { return fc2_->forward(features(x)); }

}  // namespace rflow::nn
