// Internal layout of a tensor: storage shared between views, plus shape, strides and autograd state.
#pragma once

#include <memory>
#include <vector>

#include "rflow/autograd.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

/// A block of device memory holding float32 elements; freed by its device's backend.
struct Storage {
    float* ptr = nullptr;
    int64_t numel = 0;
    Device device = Device::cpu;
    Storage(int64_t n, Device d);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
};

struct TensorImpl {
    std::shared_ptr<Storage> storage;
    Shape shape;
    std::vector<int64_t> strides;
    int64_t offset = 0;
    bool requires_grad = false;
    std::shared_ptr<Node> grad_fn;  // null for leaves
    Tensor grad;                    // accumulated by backward() on leaves

    float* data() const { return storage->ptr + offset; }
    Device device() const { return storage->device; }
};

/// Row-major strides of a shape.
std::vector<int64_t> contiguous_strides(const Shape& shape);
/// A fresh tensor of the given shape with uninitialised storage.
Tensor make_tensor(const Shape& shape, Device device);
/// A view onto t's storage with other shape/strides/offset and no history.
Tensor make_view(const Tensor& t, const Shape& shape, const std::vector<int64_t>& strides,
                 int64_t offset);
/// Moves t's storage to `device` in place: every handle sharing t's TensorImpl (a layer's copy of its
/// weight, the module's registry entry) sees the moved values; the accumulated grad is dropped.
/// Views made earlier keep the old storage.
void move_storage(Tensor& t, Device device);
/// Normalises a possibly negative dimension index, with a clear error naming `what`.
int64_t wrap_dim(int64_t d, int64_t rank, const char* what);

}  // namespace rflow
