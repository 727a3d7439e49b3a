// The toy-data commands of the CLI.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "rflow/nn/velocity_mlp.hpp"
#include "rflow/trainers/flow_matching.hpp"

namespace rflow::cli {

struct ToyTrainArgs {
    std::string dataset = "8gaussians";
    nn::VelocityMLPConfig model;
    trainers::FlowMatchingConfig train;
    float lr = 1e-3f;
    std::string out_dir = "out/toy";
    int64_t checkpoint_every = 500;
    int64_t log_every = 100;
    int sample_steps = 50;
    int64_t num_samples = 2000;
    bool resume = false;
    int threads = 0;
};

struct ToySampleArgs {
    std::string checkpoint;
    std::string out = "samples.png";
    std::string dataset;
    int steps = 50;
    int64_t num_samples = 2000;
    uint64_t seed = 1;
};

void add_toy_commands(CLI::App& app, ToyTrainArgs& train, ToySampleArgs& sample);
int run_train_toy(const ToyTrainArgs& args);
int run_sample_toy(const ToySampleArgs& args);

}  // namespace rflow::cli
