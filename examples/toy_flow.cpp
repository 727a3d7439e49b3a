// Example: train a small flow-matching model on toy 2-D data with rflow's public API, sample it
// with Euler, and report how close the samples are to the data. Build: part of the meson build
// (build/examples/toy_flow); outside it: g++ toy_flow.cpp $(pkg-config --cflags --libs rflow).
#include <cstdio>

#include <rflow/data/toy2d.hpp>
#include <rflow/metrics.hpp>
#include <rflow/nn/velocity_mlp.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/rflow.hpp>
#include <rflow/samplers/euler.hpp>
#include <rflow/trainers/flow_matching.hpp>

int main() {
    using namespace rflow;
    try {
        Generator init(0);
        nn::VelocityMLPConfig cfg;  // x (2) and t (1) -> 256 -> 256 -> 256 -> velocity (2), SiLU
        cfg.hidden = 128;
        nn::VelocityMLP model(cfg, init);
        optim::AdamOptions adam;
        adam.lr = 2e-3f;
        optim::Adam opt(model.parameters(), adam);

        trainers::FlowMatchingConfig tc;
        tc.steps = 400;
        tc.batch = 512;
        trainers::FlowMatchingTrainer trainer(
            model, opt, [](int64_t n, Generator& g) { return data::sample_toy("moons", n, g); }, tc);
        trainer.train([](const trainers::TrainProgress& p) {
            if (p.step % 100 == 0) std::printf("step %lld  loss %.4f\n", static_cast<long long>(p.step), p.loss);
            return true;
        });

        NoGradGuard no_grad;  // sampling records no graph
        Generator noise(1, 2), ref(1, 3), proj(1, 4), proj2(1, 4);
        Tensor x0 = Tensor::normal({1000, 2}, noise);
        Tensor x1 = samplers::sample_euler([&](const Tensor& x, const Tensor& t) { return model.forward(x, t); }, x0, 20);
        Tensor data = data::sample_toy("moons", 1000, ref);
        std::printf("sliced W2 to data: noise %.3f -> samples %.3f\n", sliced_wasserstein(x0, data, proj),
                    sliced_wasserstein(x1, data, proj2));
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
