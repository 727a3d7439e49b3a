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

/// The output of a node, for backward functions that reuse it (e.g. exp, softmax). It holds the
/// output's memory but only weakly its handle and node (a strong handle would be an ownership
/// cycle: output -> node -> backward -> output). get() returns the handle while it lives, else a
/// new handle on the same memory with the same node, so double backward still sees the graph.
class SavedOutput {
public:
    SavedOutput() : state_(std::make_shared<State>()) {}
    Tensor get() const {
        if (std::shared_ptr<TensorImpl> p = state_->handle.lock()) return Tensor(p);
        const State& s = *state_;
        RFLOW_CHECK(s.storage, "saved output was never set");
        auto impl = std::make_shared<TensorImpl>();
        impl->storage = s.storage;
        impl->shape = s.shape;
        impl->strides = s.strides;
        impl->offset = s.offset;
        impl->grad_fn = s.node.lock();
        impl->requires_grad = static_cast<bool>(impl->grad_fn);
        return Tensor(impl);
    }
    /// Call with the recorded output; returns it.
    Tensor set(const Tensor& t) const {
        State& s = *state_;
        s.handle = t.impl_ptr();
        s.storage = t.impl()->storage;
        s.shape = t.shape();
        s.strides = t.impl()->strides;
        s.offset = t.impl()->offset;
        s.node = t.grad_fn();
        return t;
    }

private:
    struct State {
        std::weak_ptr<TensorImpl> handle;
        std::shared_ptr<Storage> storage;
        Shape shape;
        std::vector<int64_t> strides;
        int64_t offset = 0;
        std::weak_ptr<Node> node;
    };
    std::shared_ptr<State> state_;
};

inline std::vector<Tensor> grads(Tensor a) { return {std::move(a)}; }

/// g * silu'(a) as one op, differentiable in g and a (the backward of silu; ops_elementwise.cpp).
Tensor silu_backward(const Tensor& g, const Tensor& a);

}  // namespace rflow::detail
