// rflow command-line tool: parses the subcommand, runs it, maps errors to exit codes
// (0 ok, 1 runtime failure, 2 bad usage or bad input).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli_common.hpp"
#include "rflow/config.hpp"
#include "rflow/device.hpp"
#include "rflow/io/plot.hpp"
#include "toy_commands.hpp"

int main(int argc, char** argv) {
    using namespace rflow;
    CLI::App app{"rflow " RFLOW_VERSION ": diffusion and flow-matching generative models.\n"
                 "Time runs from noise (t = 0) to data (t = 1)."};
    app.require_subcommand(1);
    app.set_version_flag("--version", RFLOW_VERSION);
    cli::ToyTrainArgs train;
    cli::ToySampleArgs sample;
    cli::add_toy_commands(app, train, sample);
    CLI::App* info = app.add_subcommand("info", "Show the build: version, devices, threads, PNG support");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (app.got_subcommand("train-toy")) return cli::run_train_toy(train);
        if (app.got_subcommand("sample-toy")) return cli::run_sample_toy(sample);
        if (info->parsed()) {
            std::printf("rflow %s\ncuda: %s\nthreads: %d\npng: %s\n", RFLOW_VERSION,
                        cuda_available() ? "available" : "not available (CPU only)", num_threads(),
                        io::png_supported() ? "yes" : "no");
            return 0;
        }
    } catch (const cli::BadInput& e) {
        std::fprintf(stderr, "rflow: error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rflow: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
