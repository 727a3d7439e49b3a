// Autograd: the dynamic graph recorded as ops run, grad(), and the no-grad scope.
//
// Every differentiable op records a Node holding its inputs and a backward function written
// with the same differentiable ops, so with create_graph = true the gradients themselves carry
// a graph and can be differentiated again (the WGAN-GP penalty needs this).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

/// Backward of one op: given dL/d(output) and which inputs need a gradient, returns one
/// gradient per input (undefined where not needed). Must use differentiable ops only.
using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<bool>& needs)>;

struct TensorImpl;

/// A link from a node to one of its inputs. It keeps the input's producer node (the graph) and,
/// for a leaf that requires grad, the leaf itself (its .grad is filled by backward), but never an
/// intermediate tensor's memory: what a backward needs, its function captures; everything else is
/// freed as soon as the forward pass drops it.
struct RFLOW_API Edge {
    std::shared_ptr<Node> grad_fn;           ///< producer of the input; null for a leaf
    std::shared_ptr<TensorImpl> leaf;        ///< the input itself, for leaves that require grad
    std::weak_ptr<TensorImpl> tensor;        ///< identity of the input (grad() looks inputs up)
    Shape shape;
    bool requires_grad = false;
};

/// One recorded op. Links to its inputs (never to its output, so there are no ownership cycles).
struct RFLOW_API Node {
    std::string name;
    std::vector<Edge> inputs;
    BackwardFn backward;
    uint64_t sequence = 0;  ///< creation order: a node's inputs were made by earlier nodes
};

/// Is recording enabled on this thread?
RFLOW_API bool grad_enabled();

/// RAII scope that disables (or enables) recording on this thread.
class RFLOW_API GradModeGuard {
public:
    explicit GradModeGuard(bool enabled);
    ~GradModeGuard();
    GradModeGuard(const GradModeGuard&) = delete;
    GradModeGuard& operator=(const GradModeGuard&) = delete;

private:
    bool previous_;
};

/// No recording inside this scope (sampling, evaluation, optimizer updates).
class RFLOW_API NoGradGuard : public GradModeGuard {
public:
    NoGradGuard() : GradModeGuard(false) {}
};

/// Called by Tensor::backward, on the thread running it, as soon as the gradient a leaf gets from
/// this backward is complete (no node still to run adds to it): the leaf and that gradient, before
/// it reaches leaf.grad(). Work on the last layers' gradients can so overlap the backward of the
/// first layers (dist::backward_mean all-reduces them meanwhile). Read the gradient, never modify
/// it: it may share storage with tensors the backward still uses. A leaf that is itself the output,
/// or whose gradient arrives only through a node that runs last, is reported when the sweep ends.
using LeafGradReadyFn = std::function<void(const TensorImpl* leaf, const Tensor& grad)>;

/// Installs `fn` for the Tensor::backward calls of this thread within the scope (grad() never calls
/// it); the previous one is restored on exit.
class RFLOW_API LeafGradReadyScope {
public:
    explicit LeafGradReadyScope(LeafGradReadyFn fn);
    ~LeafGradReadyScope();
    LeafGradReadyScope(const LeafGradReadyScope&) = delete;
    LeafGradReadyScope& operator=(const LeafGradReadyScope&) = delete;

private:
    LeafGradReadyFn previous_;
};

/// Attaches history to `output` if recording is on and any input requires grad; returns output.
RFLOW_API Tensor record(Tensor output, const char* name, std::vector<Tensor> inputs,
                        BackwardFn backward);

/// d(sum_k <grad_outputs[k], outputs[k]>)/d(inputs). grad_outputs may be empty (all outputs
/// then must be scalars and get 1). With create_graph the result can be differentiated again.
/// An input that no output depends on gets a zero tensor if allow_unused, else an Error.
RFLOW_API std::vector<Tensor> grad(const std::vector<Tensor>& outputs,
                                   const std::vector<Tensor>& inputs,
                                   const std::vector<Tensor>& grad_outputs = {},
                                   bool create_graph = false, bool allow_unused = false);

}  // namespace rflow
