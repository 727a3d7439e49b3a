// Differentiable matrix products: matmul (plain, batched, broadcast) and linear (x W^T + b).
//
// Backward of C = A B:  dA = dC B^T,  dB = A^T dC. Transposes are views; the GEMM entry reads
// them in place, so no copies are made.
#include "op_util.hpp"
#include "rflow/ops.hpp"

namespace rflow {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

namespace {

// C = A B for rank-2 or rank-3 (same batch) operands, recorded.
Tensor gemm_op(const Tensor& a, const Tensor& b) {
    const int64_t r = a.dim();
    Shape s = a.shape();
    s[r - 1] = b.size(r - 1);
    Tensor out = make_tensor(s, a.device());
    backend::get(a.device()).gemm(a, b, out, 1.f, 0.f);
    return record(out, "matmul", {a, b}, [a, b](const Tensor& g, const Needs& n) {
        const int64_t r = a.dim();
        return Grads{n[0] ? gemm_op(g, b.transpose(r - 2, r - 1)) : Tensor(),
                     n[1] ? gemm_op(a.transpose(r - 2, r - 1), g) : Tensor()};
    });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
    detail::common_device(a, b, "matmul");
    RFLOW_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: scalars are not matrices");
    if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
    if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
    RFLOW_CHECK(a.size(-1) == b.size(-2), "matmul: inner sizes differ: " << shape_str(a.shape()) << " @ "
                                                                      << shape_str(b.shape()));
    if (a.dim() == 2 && b.dim() == 2) return gemm_op(a, b);
    if (b.dim() == 2) {  // [..., M, K] @ [K, N]: fold the batch into M
        Shape s = a.shape();
        s.back() = b.size(1);
        return gemm_op(a.reshape({-1, a.size(-1)}), b).reshape(s);
    }
    // broadcast batch dims, then fold them into one
    Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
    Shape batch = detail::broadcast_shapes(ba, bb, "matmul");
    Shape sa = batch, sb = batch;
    sa.insert(sa.end(), {a.size(-2), a.size(-1)});
    sb.insert(sb.end(), {b.size(-2), b.size(-1)});
    const int64_t nb = shape_numel(batch);
    Tensor a3 = a.expand(sa).reshape({nb, a.size(-2), a.size(-1)});
    Tensor b3 = b.expand(sb).reshape({nb, b.size(-2), b.size(-1)});
    Shape out = batch;
    out.insert(out.end(), {a.size(-2), b.size(-1)});
    return gemm_op(a3, b3).reshape(out);
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
    detail::common_device(x, w, "linear");
    RFLOW_CHECK(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1),
                "linear: input " << shape_str(x.shape()) << " does not match weight " << shape_str(w.shape()));
    Tensor x2 = x.dim() == 2 ? x : x.reshape({-1, x.size(-1)});
    const int64_t n = x2.size(0), out_features = w.size(0);
    Tensor out = make_tensor({n, out_features}, x.device());
    float beta = 0.f;
    if (b.defined()) {
        RFLOW_CHECK(b.dim() == 1 && b.size(0) == out_features,
                    "linear: bias " << shape_str(b.shape()) << " does not match " << out_features << " outputs");
        out.copy_(b.detach().expand(out.shape()));  // y = b, then y += x W^T in one GEMM
        beta = 1.f;
    }
    backend::get(x.device()).gemm(x2, w.detach().t(), out, 1.f, beta);
    std::vector<Tensor> inputs{x2, w};
    if (b.defined()) inputs.push_back(b);
    out = record(out, "linear", inputs, [x2, w, has_b = b.defined()](const Tensor& g, const Needs& need) {
        Grads gr{need[0] ? matmul(g, w) : Tensor(), need[1] ? matmul(g.t(), x2) : Tensor()};
        if (has_b) gr.push_back(need[2] ? sum(g, {0}) : Tensor());
        return gr;
    });
    if (x.dim() == 2) return out;
    Shape s = x.shape();
    s.back() = out_features;
    return out.reshape(s);
}

}  // namespace rflow
