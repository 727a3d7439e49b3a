// The autograd engine: records nodes, and runs reverse-mode accumulation over the recorded graph.
//
// Nodes are processed in decreasing creation order (a node's inputs always come from earlier
// nodes), which is a valid reverse topological order. With create_graph the backward functions
// run with recording on, so the gradients they return carry their own graph.
#include <algorithm>
#include <atomic>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"
#include "tensor_impl.hpp"

namespace rflow {

namespace {
thread_local bool g_grad_enabled = true;
thread_local LeafGradReadyFn g_leaf_ready;  // LeafGradReadyScope's function; empty outside one
std::atomic<uint64_t> g_sequence{0};
}  // namespace

bool grad_enabled() { return g_grad_enabled; }

GradModeGuard::GradModeGuard(bool enabled) : previous_(g_grad_enabled) { g_grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { g_grad_enabled = previous_; }

LeafGradReadyScope::LeafGradReadyScope(LeafGradReadyFn fn) : previous_(std::exchange(g_leaf_ready, std::move(fn))) {}
LeafGradReadyScope::~LeafGradReadyScope() { g_leaf_ready = std::move(previous_); }

Tensor record(Tensor output, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
    if (!g_grad_enabled) return output;
    bool any = false;
    for (const Tensor& t : inputs) any = any || t.requires_grad();
    if (!any) return output;
    auto node = std::make_shared<Node>();
    node->name = name;
    node->inputs.reserve(inputs.size());
    for (const Tensor& t : inputs) {
        Edge e;
        if (t.defined()) {
            e.grad_fn = t.grad_fn();
            e.tensor = t.impl_ptr();
            e.shape = t.shape();
            e.requires_grad = t.requires_grad();
            if (e.requires_grad && !e.grad_fn) e.leaf = t.impl_ptr();
        }
        node->inputs.push_back(std::move(e));
    }
    node->backward = std::move(backward);
    node->sequence = ++g_sequence;
    TensorImpl* impl = output.impl();
    if (impl->grad_fn) {  // output is a fresh handle over shared storage: give it its own impl
        output = Tensor(std::make_shared<TensorImpl>(*impl));
        impl = output.impl();
    }
    impl->grad_fn = std::move(node);
    impl->requires_grad = true;
    return output;
}

namespace {

void accumulate(Tensor& slot, const Tensor& g) {
    if (!g.defined()) return;
    slot = slot.defined() ? add(slot, g) : g;
}

// Reverse-mode sweep. `seeds` pairs output tensors with their incoming gradients. Gradients
// reaching leaves (or requested non-leaf tensors) are collected in `leaf_grads` keyed by impl.
// If `wanted` is non-null only paths that reach a wanted tensor are followed.
void run_backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& seeds,
                  const std::unordered_set<const TensorImpl*>* wanted,
                  std::unordered_map<const TensorImpl*, Tensor>& leaf_grads, bool create_graph) {
    // collect the graph
    std::vector<Node*> nodes;
    std::unordered_set<Node*> seen;
    std::vector<Node*> stack;
    for (const Tensor& o : outputs)
        if (o.grad_fn() && seen.insert(o.grad_fn().get()).second) stack.push_back(o.grad_fn().get());
    while (!stack.empty()) {
        Node* n = stack.back();
        stack.pop_back();
        nodes.push_back(n);
        for (const Edge& in : n->inputs)
            if (in.grad_fn && seen.insert(in.grad_fn.get()).second) stack.push_back(in.grad_fn.get());
    }
    std::sort(nodes.begin(), nodes.end(), [](Node* a, Node* b) { return a->sequence < b->sequence; });

    // which nodes lead to something we want (all leaves when wanted is null)
    std::unordered_map<Node*, bool> useful;
    // the input's tensor if grad() asked for it (a wanted tensor is held by the caller, so alive)
    auto is_wanted = [&](const Edge& in) {
        if (!wanted) return false;
        const std::shared_ptr<TensorImpl> t = in.tensor.lock();
        return t && wanted->count(t.get()) > 0;
    };
    auto input_wanted = [&](const Edge& in) {
        if (!in.requires_grad) return false;
        if (wanted ? is_wanted(in) : !in.grad_fn) return true;
        return in.grad_fn && useful[in.grad_fn.get()];
    };
    for (Node* n : nodes) {  // increasing sequence: inputs are decided before their users
        bool u = false;
        for (const Edge& in : n->inputs) u = u || input_wanted(in);
        useful[n] = u;
    }

    std::unordered_map<Node*, Tensor> node_grads;
    for (size_t i = 0; i < outputs.size(); ++i) {
        const Tensor& o = outputs[i];
        if (wanted && wanted->count(o.impl())) accumulate(leaf_grads[o.impl()], seeds[i]);
        if (o.grad_fn()) accumulate(node_grads[o.grad_fn().get()], seeds[i]);
        else if (!wanted) accumulate(leaf_grads[o.impl()], seeds[i]);
    }

    const bool release_saved = !wanted && !create_graph;
    auto run_node = [&](Node* n) {
        auto found = node_grads.find(n);
        if (found == node_grads.end() || !useful[n]) return;
        Tensor g = std::move(found->second);
        node_grads.erase(found);
        std::vector<bool> needs(n->inputs.size());
        for (size_t i = 0; i < n->inputs.size(); ++i) needs[i] = input_wanted(n->inputs[i]);
        RFLOW_CHECK(n->backward, "backward through '" << n->name << "' a second time: Tensor::backward() frees what "
                                                            "a graph saved as it goes (differentiate with grad(), or "
                                                            "backward with create_graph, to use a graph again)");
        std::vector<Tensor> grads = n->backward(g, needs);
        // Tensor::backward (not grad(), not create_graph) is a graph's last use: what this node
        // saved (activations) goes now, not when the graph is dropped, so the backward's peak
        // memory is not every activation plus every gradient.
        if (release_saved) n->backward = nullptr;
        RFLOW_CHECK(grads.size() == n->inputs.size(),
                    "backward of '" << n->name << "' returned " << grads.size() << " gradients for "
                                    << n->inputs.size() << " inputs");
        for (size_t i = 0; i < grads.size(); ++i) {
            if (!needs[i] || !grads[i].defined()) continue;
            const Edge& in = n->inputs[i];
            RFLOW_CHECK(grads[i].shape() == in.shape,
                        "backward of '" << n->name << "' gave gradient " << shape_str(grads[i].shape())
                                        << " for input " << i << " of shape " << shape_str(in.shape));
            if (wanted ? is_wanted(in) : static_cast<bool>(in.leaf)) {
                const std::shared_ptr<TensorImpl> t = in.tensor.lock();
                accumulate(leaf_grads[t.get()], grads[i]);
            }
            if (in.grad_fn) accumulate(node_grads[in.grad_fn.get()], grads[i]);
        }
    };

    // Leaf-ready reports (LeafGradReadyScope, Tensor::backward only): a leaf's gradient is complete
    // once the node of lowest sequence among those taking it as input has had its turn.
    const bool report = !wanted && g_leaf_ready;
    std::unordered_map<Node*, std::vector<const TensorImpl*>> completes;
    std::unordered_set<const TensorImpl*> reported;
    if (report) {
        std::unordered_set<const TensorImpl*> assigned;
        for (Node* n : nodes)  // increasing sequence: the first node met is the last to run
            for (const Edge& in : n->inputs)
                if (in.leaf && assigned.insert(in.leaf.get()).second) completes[n].push_back(in.leaf.get());
    }
    auto report_ready = [&](const TensorImpl* leaf) {
        auto g = leaf_grads.find(leaf);
        if (g == leaf_grads.end() || !g->second.defined() || !reported.insert(leaf).second) return;
        g_leaf_ready(leaf, g->second);
    };

    GradModeGuard mode(create_graph);
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
        Node* n = *it;
        run_node(n);
        if (report)
            if (auto c = completes.find(n); c != completes.end())
                for (const TensorImpl* leaf : c->second) report_ready(leaf);
    }
    if (report)  // leaves that are outputs themselves
        for (const Tensor& o : outputs) report_ready(o.impl());
}

std::vector<Tensor> default_seeds(const std::vector<Tensor>& outputs, const std::vector<Tensor>& given) {
    if (!given.empty()) {
        RFLOW_CHECK(given.size() == outputs.size(),
                    given.size() << " grad_outputs given for " << outputs.size() << " outputs");
        for (size_t i = 0; i < given.size(); ++i)
            RFLOW_CHECK(given[i].shape() == outputs[i].shape(),
                        "grad_output " << i << " has shape " << shape_str(given[i].shape())
                                       << ", output has " << shape_str(outputs[i].shape()));
        return given;
    }
    std::vector<Tensor> seeds;
    for (const Tensor& o : outputs) {
        RFLOW_CHECK(o.numel() == 1, "gradient of a non-scalar output " << shape_str(o.shape())
                                                                       << " needs grad_outputs");
        seeds.push_back(Tensor::ones(o.shape(), o.device()));
    }
    return seeds;
}

}  // namespace

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool create_graph, bool allow_unused) {
    for (const Tensor& o : outputs) RFLOW_CHECK(o.defined(), "grad: undefined output");
    std::unordered_set<const TensorImpl*> wanted;
    for (const Tensor& in : inputs) {
        RFLOW_CHECK(in.defined() && in.requires_grad(), "grad: an input does not require grad");
        wanted.insert(in.impl());
    }
    std::unordered_map<const TensorImpl*, Tensor> found;
    run_backward(outputs, default_seeds(outputs, grad_outputs), &wanted, found, create_graph);
    std::vector<Tensor> result;
    for (size_t i = 0; i < inputs.size(); ++i) {
        auto it = found.find(inputs[i].impl());
        if (it == found.end() || !it->second.defined()) {
            RFLOW_CHECK(allow_unused, "grad: input " << i << " is not used by the outputs (pass allow_unused)");
            result.push_back(zeros_like(inputs[i]));
        } else {
            result.push_back(it->second);
        }
    }
    return result;
}

void Tensor::backward(const Tensor& grad_output, bool create_graph) const {
    RFLOW_CHECK(requires_grad(), "backward: tensor does not require grad (no variable in its history)");
    std::vector<Tensor> seeds = default_seeds({*this}, grad_output.defined() ? std::vector<Tensor>{grad_output}
                                                                             : std::vector<Tensor>{});
    std::unordered_map<const TensorImpl*, Tensor> found;
    run_backward({*this}, seeds, nullptr, found, create_graph);
    // leaves accumulate into .grad; the TensorImpl pointers stay valid because the graph's edges
    // hold the leaves that require grad
    std::unordered_map<const TensorImpl*, TensorImpl*> owners;
    if (!grad_fn()) owners[impl()] = impl();
    std::vector<Node*> stack;
    std::unordered_set<Node*> seen;
    if (grad_fn()) {
        stack.push_back(grad_fn().get());
        seen.insert(grad_fn().get());
    }
    while (!stack.empty()) {
        Node* n = stack.back();
        stack.pop_back();
        for (const Edge& in : n->inputs) {
            if (in.leaf) owners[in.leaf.get()] = in.leaf.get();
            if (in.grad_fn && seen.insert(in.grad_fn.get()).second) stack.push_back(in.grad_fn.get());
        }
    }
    GradModeGuard mode(create_graph);
    for (auto& [key, g] : found) {
        auto owner = owners.find(key);
        if (owner == owners.end() || !g.defined()) continue;
        Tensor& slot = owner->second->grad;
        if (slot.defined() && !create_graph && !slot.requires_grad() && slot.is_contiguous() &&
            slot.shape() == g.shape()) {
            slot.copy_(add(slot, g));  // in place: optimizers may hold this buffer
        } else if (slot.defined()) {
            slot = add(slot, g);
        } else {
            slot = create_graph ? g : g.detach().clone();  // own buffer: grads of two leaves may alias
        }
    }
}

}  // namespace rflow
