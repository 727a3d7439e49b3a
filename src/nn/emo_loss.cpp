// EMO loss and its combinations with cross-entropy (see emo_loss.hpp; SPEC 7.b-7.c).
#include "rflow/emo_loss.hpp"

#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow {

namespace {

constexpr float kRatioEps = 1e-10f;  // the official code's epsilon in the stop-gradient ratios

struct Rows {
    std::vector<int64_t> safe;  // labels with ignored rows set to 0
    Tensor keep;                // [N] 1 for kept rows, 0 for ignored
    int64_t kept = 0;
};

Rows check_rows(const Tensor& logits, const std::vector<int64_t>& labels, int64_t ignore_index, const char* op) {
    RFLOW_CHECK(logits.dim() == 2 && logits.size(0) == static_cast<int64_t>(labels.size()),
                op << ": logits [N, V] with N labels expected, got " << shape_str(logits.shape()) << " and "
                   << labels.size() << " labels");
    const int64_t n = logits.size(0), v = logits.size(1);
    Rows r;
    r.safe = labels;
    std::vector<float> keep(static_cast<size_t>(n), 1.f);
    for (int64_t i = 0; i < n; ++i) {
        if (labels[i] == ignore_index) {
            r.safe[i] = 0, keep[i] = 0.f;
            continue;
        }
        RFLOW_CHECK(labels[i] >= 0 && labels[i] < v,
                    op << ": label " << labels[i] << " at row " << i << " outside [0, " << v << ")");
        ++r.kept;
    }
    r.keep = Tensor::from_vector(keep, {n}, logits.device());
    return r;
}

Tensor masked_mean(const Tensor& per_row, const Rows& rows) {
    const Tensor s = sum(mul(per_row, rows.keep));
    return rows.kept ? mul(s, 1.f / static_cast<float>(rows.kept)) : mul(s, 0.f);
}

/// 1 - <softmax(z) @ Ê, Ê[t]> per row.
Tensor emo_rows(const Tensor& logits, const Rows& rows, const Tensor& cost) {
    RFLOW_CHECK(cost.defined() && cost.dim() == 2 && cost.size(0) == logits.size(1),
                "emo_loss: the cost embedding must be [V = " << logits.size(1) << ", D], got "
                                                            << (cost.defined() ? shape_str(cost.shape()) : "none"));
    const Tensor e = cost.detach();
    const Tensor u = matmul(softmax(logits, 1), e);     // [N, D] = sum_i p_i ê_i
    const Tensor et = index_select(e, 0, rows.safe);    // [N, D] = ê_t
    return rsub(sum(mul(u, et), {1}), 1.f);
}

}  // namespace

ClassifierLoss classifier_loss(const std::string& name) {
    if (name == "ce") return ClassifierLoss::ce;
    if (name == "emo") return ClassifierLoss::emo;
    if (name == "ce+emo") return ClassifierLoss::ce_emo;
    if (name == "emo+ce") return ClassifierLoss::emo_ce;
    RFLOW_FAIL("unknown classifier loss '" << name << "' (ce, emo, ce+emo, emo+ce)");
}

std::vector<std::string> classifier_loss_names() { return {"ce", "emo", "ce+emo", "emo+ce"}; }

Tensor emo_cost_embedding(const Tensor& embedding) {
    RFLOW_CHECK(embedding.dim() == 2, "emo_cost_embedding: expects [V, D], got " << shape_str(embedding.shape()));
    const Tensor e = embedding.detach();
    const Tensor norm2 = sum(square(e), {1}, true);
    for (float v : norm2.to_vector()) RFLOW_CHECK(v > 0.f, "emo_cost_embedding: a row of the embedding is zero");
    return mul(e, rsqrt(norm2));
}

Tensor emo_loss(const Tensor& logits, const std::vector<int64_t>& labels, const Tensor& cost, Reduction r,
                int64_t ignore_index) {
    const Rows rows = check_rows(logits, labels, ignore_index, "emo_loss");
    const Tensor per_row = emo_rows(logits, rows, cost);
    if (r == Reduction::none) return mul(per_row, rows.keep);
    if (r == Reduction::sum) return sum(mul(per_row, rows.keep));
    return masked_mean(per_row, rows);
}

Tensor classifier_objective(ClassifierLoss kind, const Tensor& logits, const std::vector<int64_t>& labels,
                            const Tensor& cost, int64_t ignore_index) {
    if (kind == ClassifierLoss::ce) return cross_entropy(logits, labels, Reduction::mean, ignore_index);
    const Rows rows = check_rows(logits, labels, ignore_index, "classifier_objective");
    const Tensor emo = emo_rows(logits, rows, cost);
    if (kind == ClassifierLoss::emo) return masked_mean(emo, rows);
    const Tensor ce = cross_entropy(logits, labels, Reduction::none, ignore_index);
    Tensor per_row;
    if (kind == ClassifierLoss::ce_emo)  // ½ [CE + sg(CE / EMO) EMO]
        per_row = mul(add(ce, mul(div(ce, add(emo, kRatioEps)).detach(), emo)), 0.5f);
    else  // EMO + sg(EMO / CE) CE
        per_row = add(emo, mul(div(emo, add(ce, kRatioEps)).detach(), ce));
    return masked_mean(per_row, rows);
}

}  // namespace rflow
