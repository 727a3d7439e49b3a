// Example: how a program embeds rflow. It loads any checkpoint the CLI trained with
// rflow::load_model, reads a batch from a safetensors file and writes the network's velocity.
//
//   velocity_eval CHECKPOINT INPUTS.safetensors OUTPUT.safetensors [--raw]
//
// INPUTS holds "x" [N, ...sample shape] and "t" [N] (time runs noise 0 -> data 1), and for a
// class-conditional model optionally "labels" [N] (integers in [0, num_classes]; num_classes is
// the null label, which is also what the model sees without "labels"). OUTPUT gets "v" = v(x, t).
// The EMA weights are used when the checkpoint has them, the raw weights with --raw.
// examples/torch_twin.py does the same in PyTorch, so the two can be compared.
// Exit codes: 0 ok, 2 bad usage or bad input (the message names the file), 1 output not written.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <rflow/rflow.hpp>

namespace {

int usage() {
    std::fprintf(stderr, "usage: velocity_eval CHECKPOINT INPUTS.safetensors OUTPUT.safetensors [--raw]\n");
    return 2;
}

const rflow::Tensor* find(const rflow::io::TensorList& list, const std::string& name) {
    for (const auto& [n, t] : list)
        if (n == name) return &t;
    return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace rflow;
    std::vector<std::string> args(argv + 1, argv + argc);
    bool raw = false;
    std::vector<std::string> paths;
    for (const std::string& a : args) {
        if (a == "--raw") raw = true;
        else if (a.rfind("--", 0) == 0) return usage();
        else paths.push_back(a);
    }
    if (paths.size() != 3) return usage();
    const std::string &ckpt = paths[0], &inputs_path = paths[1], &output = paths[2];

    Tensor v;
    try {
        LoadedModel m = load_model(ckpt, !raw);  // errors name the checkpoint
        const io::TensorList inputs = io::load_weights(inputs_path);
        const Tensor* x = find(inputs, "x");
        const Tensor* t = find(inputs, "t");
        if (!x || !t) throw Error(inputs_path + ": needs tensors \"x\" and \"t\"");
        Shape want{x->dim() > 0 ? x->size(0) : 0};
        want.insert(want.end(), m.sample_shape.begin(), m.sample_shape.end());
        if (x->shape() != want)
            throw Error(inputs_path + ": \"x\" is " + shape_str(x->shape()) + ", the model (" + m.kind + ") takes [N, " +
                        shape_str(m.sample_shape).substr(1));
        if (t->shape() != Shape{x->size(0)})
            throw Error(inputs_path + ": \"t\" is " + shape_str(t->shape()) + ", expected [" + std::to_string(x->size(0)) +
                        "] (one time per sample)");

        NoGradGuard no_grad;
        if (const Tensor* l = find(inputs, "labels")) {
            const int64_t classes = m.model->num_classes();
            if (classes == 0) throw Error(inputs_path + ": has \"labels\" but " + ckpt + " is not class-conditional");
            if (l->shape() != Shape{x->size(0)})
                throw Error(inputs_path + ": \"labels\" is " + shape_str(l->shape()) + ", expected one per sample");
            std::vector<int64_t> labels;
            for (float f : l->to_vector()) {
                if (f != std::floor(f) || f < 0 || f > static_cast<float>(classes))
                    throw Error(inputs_path + ": label " + std::to_string(f) + " is not an integer in [0, " +
                                std::to_string(classes) + "]");
                labels.push_back(static_cast<int64_t>(f));
            }
            v = m.model->forward(*x, *t, labels);
        } else {
            v = m.model->forward(*x, *t);
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "velocity_eval: %s\n", e.what());
        return 2;
    }
    try {
        io::save_weights(output, {{"v", v.contiguous()}});
    } catch (const Error& e) {
        std::fprintf(stderr, "velocity_eval: %s: %s\n", output.c_str(), e.what());
        return 1;
    }
    return 0;
}
