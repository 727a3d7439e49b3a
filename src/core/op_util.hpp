// Small internal helpers shared by the op files: fresh outputs, broadcasting, saved outputs.
#pragma once

#include <memory>

#include "../backend.hpp"
#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "tensor_impl.hpp"

namespace rflow::detail {

/// NumPy broadcasting of two shapes, with an error naming both.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

/// Checks that tensors live on one device and returns it.
Device common_device(const Tensor& a, const Tensor& b, const char* op);

/// Runs a backend unary entry into a fresh tensor (no autograd).
Tensor raw_unary(backend::Unary op, const Tensor& x, float a = 0.f, float b = 0.f);
/// Runs a backend binary entry with broadcasting into a fresh tensor (no autograd).
Tensor raw_binary(backend::Binary op, const Tensor& a, const Tensor& b, const char* name);

/// The output of a node, for backward functions that reuse it (e.g. exp, softmax). Holding it
/// weakly avoids an ownership cycle; it is alive whenever its node is reachable in a graph.
class SavedOutput {
public:
    SavedOutput() : slot_(std::make_shared<std::weak_ptr<TensorImpl>>()) {}
    Tensor get() const {
        auto p = slot_->lock();
        RFLOW_CHECK(p, "saved output was released before backward");
        return Tensor(p);
    }
    /// Call with the recorded output; returns it.
    Tensor set(const Tensor& t) const {
        *slot_ = t.impl_ptr();
        return t;
    }

private:
    std::shared_ptr<std::weak_ptr<TensorImpl>> slot_;
};

inline std::vector<Tensor> grads(Tensor a) { return {std::move(a)}; }

}  // namespace rflow::detail
