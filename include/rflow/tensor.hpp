// Tensor: a float32, row-major, n-dimensional view onto shared storage, with an autograd slot.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "rflow/device.hpp"
#include "rflow/export.hpp"

namespace rflow {

using Shape = std::vector<int64_t>;

class Generator;
struct TensorImpl;
struct Node;

/// A handle to a float32 tensor. Copies share storage (like torch.Tensor); views (reshape of a
/// contiguous tensor, slice, transpose, permute, expand) share storage with their base.
class RFLOW_API Tensor {
public:
    Tensor() = default;  ///< an undefined tensor

    // ---- creation ----
    static Tensor empty(const Shape& shape, Device device = Device::cpu);
    static Tensor zeros(const Shape& shape, Device device = Device::cpu);
    static Tensor ones(const Shape& shape, Device device = Device::cpu);
    static Tensor full(const Shape& shape, float value, Device device = Device::cpu);
    static Tensor scalar(float value, Device device = Device::cpu);  ///< rank-0 tensor
    static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                              Device device = Device::cpu);
    static Tensor arange(int64_t n, Device device = Device::cpu);  ///< 0, 1, ..., n-1
    /// U[lo, hi) and N(mean, std^2) from the Philox generator; advances the generator.
    static Tensor uniform(const Shape& shape, Generator& gen, float lo = 0.f, float hi = 1.f,
                          Device device = Device::cpu);
    static Tensor normal(const Shape& shape, Generator& gen, float mean = 0.f, float std = 1.f,
                         Device device = Device::cpu);

    // ---- metadata ----
    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const;
    const std::vector<int64_t>& strides() const;  ///< in elements
    int64_t offset() const;                       ///< in elements, into the storage
    int64_t dim() const;
    int64_t size(int64_t d) const;  ///< negative d counts from the end
    int64_t numel() const;
    Device device() const;
    bool is_contiguous() const;
    /// True when both tensors view the same storage.
    bool shares_storage(const Tensor& other) const;

    // ---- data (CPU tensors) ----
    float* data();              ///< pointer to element [0,...,0]
    const float* data() const;
    std::vector<float> to_vector() const;  ///< copies in row-major order
    float item() const;                    ///< the one element of a 1-element tensor
    Tensor to(Device device) const;        ///< copy to another device (same tensor if already there)

    // ---- views (differentiable; see ops.hpp for the rest of the ops) ----
    Tensor reshape(const Shape& shape) const;  ///< view when possible, else copy; one -1 allowed
    Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
    Tensor transpose(int64_t d0, int64_t d1) const;
    Tensor permute(const std::vector<int64_t>& dims) const;
    Tensor expand(const Shape& shape) const;  ///< broadcast view (stride 0 on expanded dims)
    Tensor unsqueeze(int64_t d) const;
    Tensor squeeze(int64_t d) const;
    Tensor t() const { return transpose(0, 1); }
    Tensor contiguous() const;  ///< this tensor if already contiguous, else a row-major copy
    Tensor clone() const;       ///< always a fresh copy (differentiable)

    // ---- autograd ----
    bool requires_grad() const;
    /// Marks a leaf as a variable whose gradient backward() accumulates into grad().
    Tensor& requires_grad_(bool on = true);
    Tensor grad() const;        ///< accumulated gradient of a leaf (undefined before backward)
    void set_grad(const Tensor& g);
    void zero_grad();           ///< drops the accumulated gradient
    bool is_leaf() const;
    Tensor detach() const;      ///< same storage, no history
    /// Backpropagates from this tensor (a scalar unless `grad_output` is given) into the leaves.
    /// Each node's saved tensors are freed once it has run (unless create_graph), as PyTorch does
    /// without retain_graph: a second backward through the same graph is an Error; grad() keeps them.
    void backward(const Tensor& grad_output = Tensor(), bool create_graph = false) const;
    const std::shared_ptr<Node>& grad_fn() const;

    // ---- in-place, outside autograd (optimizers, initialisers) ----
    void copy_(const Tensor& src);  ///< elementwise copy of a same-shape tensor into this view
    void fill_(float value);

    std::string to_string(int max_per_dim = 6) const;  ///< for debugging

    // internal
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
    TensorImpl* impl() const { return impl_.get(); }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

private:
    std::shared_ptr<TensorImpl> impl_;
};

RFLOW_API std::ostream& operator<<(std::ostream& os, const Tensor& t);
RFLOW_API std::string shape_str(const Shape& s);
/// Number of elements of a shape (1 for rank 0).
RFLOW_API int64_t shape_numel(const Shape& s);

}  // namespace rflow
