// MSE and cross-entropy, composed of differentiable ops (so both are twice differentiable).
#include "rflow/loss.hpp"

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow {

static Tensor reduce(const Tensor& per_elem, Reduction r) {
    switch (r) {
        case Reduction::mean: return mean(per_elem);
        case Reduction::sum: return sum(per_elem);
        case Reduction::none: return per_elem;
    }
    return per_elem;
}

Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction r) {
    RFLOW_CHECK(pred.shape() == target.shape(), "mse_loss: prediction " << shape_str(pred.shape())
                                                                        << " and target " << shape_str(target.shape())
                                                                        << " differ");
    return reduce(square(sub(pred, target)), r);
}

Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels, Reduction r, int64_t ignore_index,
                     float label_smoothing) {
    RFLOW_CHECK(logits.dim() == 2 && logits.size(0) == static_cast<int64_t>(labels.size()),
                "cross_entropy: logits [N, C] with N labels expected, got " << shape_str(logits.shape()) << " and "
                                                                             << labels.size() << " labels");
    RFLOW_CHECK(label_smoothing >= 0.f && label_smoothing <= 1.f, "cross_entropy: label_smoothing outside [0, 1]");
    const int64_t n = logits.size(0), c = logits.size(1);
    std::vector<int64_t> safe(labels);
    std::vector<float> keep(n, 1.f);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (labels[i] == ignore_index) {
            safe[i] = 0;
            keep[i] = 0.f;
            continue;
        }
        RFLOW_CHECK(labels[i] >= 0 && labels[i] < c, "cross_entropy: label " << labels[i] << " at row " << i
                                                                             << " outside [0, " << c << ")");
        ++kept;
    }
    Tensor logp = log_softmax(logits, 1);
    // -(1 - s) log p[label] - s mean_c log p[c]
    Tensor nll = neg(gather_rows(logp, safe));
    if (label_smoothing > 0.f) nll = add(mul(nll, 1.f - label_smoothing), mul(neg(mean(logp, {1})), label_smoothing));
    Tensor mask = Tensor::from_vector(keep, {n}, logits.device());
    Tensor per_row = mul(nll, mask);
    if (r == Reduction::none) return per_row;
    if (r == Reduction::sum) return sum(per_row);
    return kept ? mul(sum(per_row), 1.f / static_cast<float>(kept)) : mul(sum(per_row), 0.f);
}

}  // namespace rflow
