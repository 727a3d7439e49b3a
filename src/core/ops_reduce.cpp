// Differentiable reductions: sum, mean, max over axes, and sum_to (the adjoint of broadcasting).
#include "op_util.hpp"
#include "rflow/ops.hpp"

namespace rflow {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

namespace {

// Flags of the reduced axes (all when `axes` is empty) and the keepdim shape.
std::vector<bool> axis_flags(const Tensor& a, const std::vector<int64_t>& axes, Shape& keep_shape) {
    const int64_t r = a.dim();
    std::vector<bool> flags(r, axes.empty());
    for (int64_t ax : axes) flags[wrap_dim(ax, r, "reduction")] = true;
    keep_shape = a.shape();
    for (int64_t d = 0; d < r; ++d)
        if (flags[d]) keep_shape[d] = 1;
    return flags;
}

Shape drop_reduced(const Shape& s, const std::vector<bool>& flags) {
    Shape out;
    for (size_t d = 0; d < s.size(); ++d)
        if (!flags[d]) out.push_back(s[d]);
    return out;
}

Tensor raw_reduce(backend::Reduce op, const Tensor& a, const std::vector<bool>& flags, const Shape& keep) {
    Tensor out = make_tensor(keep, a.device());
    backend::get(a.device()).reduce(op, a, flags, out);
    return out;
}

}  // namespace

Tensor sum(const Tensor& a, std::vector<int64_t> axes, bool keepdim) {
    Shape keep;
    std::vector<bool> flags = axis_flags(a, axes, keep);
    Tensor out = raw_reduce(backend::Reduce::sum, a, flags, keep);
    out = record(out, "sum", {a}, [from = a.shape(), keep](const Tensor& g, const Needs&) {
        return Grads{g.reshape(keep).expand(from)};
    });
    return keepdim ? out : out.reshape(drop_reduced(a.shape(), flags));
}

Tensor mean(const Tensor& a, std::vector<int64_t> axes, bool keepdim) {
    Shape keep;
    axis_flags(a, axes, keep);
    const int64_t count = a.numel() / std::max<int64_t>(shape_numel(keep), 1);
    return mul(sum(a, axes, keepdim), count ? 1.f / static_cast<float>(count) : 0.f);
}

Tensor max(const Tensor& a, std::vector<int64_t> axes, bool keepdim) {
    Shape keep;
    std::vector<bool> flags = axis_flags(a, axes, keep);
    Tensor m = raw_reduce(backend::Reduce::max, a, flags, keep);
    // the backward keeps the maxima as data only: capturing m itself, which record() turns into
    // this op's output, would make the output own its own grad node (a cycle that leaked graphs)
    Tensor out = record(m, "max", {a}, [a, maxima = m.detach(), axes, keep](const Tensor& g, const Needs&) {
        // gradient shared evenly among the maxima (the mask is piecewise constant)
        Tensor mask = eq(a, maxima);
        Tensor count = sum(mask, axes, true);
        return Grads{mul(g.reshape(keep), div(mask, count))};
    });
    return keepdim ? out : out.reshape(drop_reduced(a.shape(), flags));
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
    if (a.shape() == shape) return a;
    const int64_t r = a.dim(), lead = r - static_cast<int64_t>(shape.size());
    RFLOW_CHECK(lead >= 0, "sum_to: cannot reduce " << shape_str(a.shape()) << " to " << shape_str(shape));
    std::vector<int64_t> axes;
    for (int64_t d = 0; d < r; ++d) {
        if (d < lead) { axes.push_back(d); continue; }
        const int64_t want = shape[d - lead];
        if (want == 1 && a.size(d) != 1) axes.push_back(d);
        else RFLOW_CHECK(want == a.size(d), "sum_to: cannot reduce " << shape_str(a.shape()) << " to " << shape_str(shape));
    }
    if (axes.empty()) return a.reshape(shape);
    return sum(a, axes, true).reshape(shape);
}

}  // namespace rflow
