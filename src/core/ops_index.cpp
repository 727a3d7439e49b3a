// Differentiable joining, splitting and indexing: concat, stack, split, index_select/index_add,
// gather_rows. Each is the adjoint of another: concat <-> slices, index_select <-> index_add.
#include "op_util.hpp"
#include "rflow/ops.hpp"

namespace rflow {

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

Tensor concat(const std::vector<Tensor>& parts, int64_t dim) {
    RFLOW_CHECK(!parts.empty(), "concat: no tensors");
    const Tensor& first = parts[0];
    dim = wrap_dim(dim, first.dim(), "concat");
    Shape s = first.shape();
    s[dim] = 0;
    std::vector<int64_t> sizes;
    for (const Tensor& p : parts) {
        detail::common_device(first, p, "concat");
        RFLOW_CHECK(p.dim() == first.dim(), "concat: ranks differ");
        for (int64_t d = 0; d < p.dim(); ++d)
            RFLOW_CHECK(d == dim || p.size(d) == first.size(d),
                        "concat: shapes " << shape_str(first.shape()) << " and " << shape_str(p.shape())
                                          << " differ off axis " << dim);
        sizes.push_back(p.size(dim));
        s[dim] += p.size(dim);
    }
    Tensor out = make_tensor(s, first.device());
    int64_t off = 0;
    for (const Tensor& p : parts) {
        Tensor dst = out.detach().slice(dim, off, off + p.size(dim));
        backend::get(out.device()).copy(p, dst);
        off += p.size(dim);
    }
    return record(out, "concat", parts, [sizes, dim](const Tensor& g, const Needs& n) {
        Grads gr;
        int64_t o = 0;
        for (size_t i = 0; i < sizes.size(); ++i) {
            gr.push_back(n[i] ? g.slice(dim, o, o + sizes[i]) : Tensor());
            o += sizes[i];
        }
        return gr;
    });
}

Tensor stack(const std::vector<Tensor>& parts, int64_t dim) {
    RFLOW_CHECK(!parts.empty(), "stack: no tensors");
    const int64_t r = parts[0].dim() + 1;
    dim = dim < 0 ? dim + r : dim;
    std::vector<Tensor> expanded;
    for (const Tensor& p : parts) {
        RFLOW_CHECK(p.shape() == parts[0].shape(), "stack: shapes " << shape_str(parts[0].shape()) << " and "
                                                                   << shape_str(p.shape()) << " differ");
        expanded.push_back(p.unsqueeze(dim));
    }
    return concat(expanded, dim);
}

std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim) {
    dim = wrap_dim(dim, a.dim(), "split");
    int64_t total = 0;
    for (int64_t s : sizes) total += s;
    RFLOW_CHECK(total == a.size(dim), "split: sizes sum to " << total << " but axis " << dim << " has " << a.size(dim));
    std::vector<Tensor> out;
    int64_t off = 0;
    for (int64_t s : sizes) {
        out.push_back(a.slice(dim, off, off + s));
        off += s;
    }
    return out;
}

Tensor index_select(const Tensor& a, int64_t dim, const std::vector<int64_t>& index) {
    dim = wrap_dim(dim, a.dim(), "index_select");
    for (int64_t i : index)
        RFLOW_CHECK(i >= 0 && i < a.size(dim), "index_select: index " << i << " out of range [0, " << a.size(dim) << ")");
    Shape s = a.shape();
    s[dim] = static_cast<int64_t>(index.size());
    Tensor out = make_tensor(s, a.device());
    backend::get(a.device()).index_select(a, dim, index, out);
    return record(out, "index_select", {a}, [from = a.shape(), dim, index](const Tensor& g, const Needs&) {
        return Grads{index_add(from, dim, index, g)};
    });
}

Tensor index_add(const Shape& shape, int64_t dim, const std::vector<int64_t>& index, const Tensor& src) {
    dim = wrap_dim(dim, static_cast<int64_t>(shape.size()), "index_add");
    for (int64_t i : index)
        RFLOW_CHECK(i >= 0 && i < shape[dim], "index_add: index " << i << " out of range [0, " << shape[dim] << ")");
    Tensor out = Tensor::zeros(shape, src.device());
    backend::get(src.device()).index_add(out, dim, index, src);
    return record(out, "index_add", {src}, [dim, index](const Tensor& g, const Needs&) {
        return Grads{index_select(g, dim, index)};
    });
}

Tensor gather_rows(const Tensor& a, const std::vector<int64_t>& index) {
    RFLOW_CHECK(a.dim() == 2 && a.size(0) == static_cast<int64_t>(index.size()),
                "gather_rows: need [N, C] and N indices, got " << shape_str(a.shape()) << " and " << index.size());
    const int64_t c = a.size(1);
    std::vector<int64_t> flat(index.size());
    for (size_t i = 0; i < index.size(); ++i) {
        RFLOW_CHECK(index[i] >= 0 && index[i] < c, "gather_rows: class index " << index[i] << " out of range [0, " << c << ")");
        flat[i] = static_cast<int64_t>(i) * c + index[i];
    }
    return index_select(a.reshape({-1}), 0, flat);
}

}  // namespace rflow
