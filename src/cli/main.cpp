// rflow command-line tool: parses the subcommand, runs it, maps errors to exit codes
// (0 ok, 1 runtime failure, 2 bad usage or bad input).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "classifier_commands.hpp"
#include "convert_commands.hpp"
#include "cli_common.hpp"
#include "rflow/config.hpp"
#include "rflow/device.hpp"
#include "rflow/dist.hpp"
#include "rflow/io/plot.hpp"
#include "gan_commands.hpp"
#include "image_commands.hpp"
#include "sample_commands.hpp"
#include "train_commands.hpp"

namespace {

// CLI11 answers `rflow bogus` with "A subcommand is required"; name the word it did not know and
// list the commands it could have been. Returns false (after the message) on an unknown command.
bool known_commands(const CLI::App& app, int argc, char** argv) {
    const CLI::App* at = &app;
    for (int i = 1; i < argc && argv[i][0] != '-'; ++i) {
        const auto subs = at->get_subcommands([](const CLI::App*) { return true; });
        if (subs.empty()) return true;  // a command's own arguments follow
        const CLI::App* next = nullptr;
        std::string names;
        for (const CLI::App* s : subs) {
            if (s->get_name() == argv[i]) next = s;
            names += (names.empty() ? "" : ", ") + s->get_name();
        }
        if (!next) {
            std::fprintf(stderr, "rflow: error: unknown command '%s' (expected one of: %s; see --help)\n", argv[i],
                         names.c_str());
            return false;
        }
        at = next;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace rflow;
    CLI::App app{"rflow " RFLOW_VERSION ": diffusion and flow-matching generative models.\n"
                 "Time runs from noise (t = 0) to data (t = 1). Typical run:\n"
                 "  rflow train -o out/1rf && rflow reflow --model out/1rf/checkpoint.safetensors -o out/2rf\n"
                 "  rflow distill --model out/2rf/checkpoint.safetensors -o out/distilled\n"
                 "  rflow eval --model out/1rf/checkpoint.safetensors --model out/2rf/checkpoint.safetensors\n"
                 "  rflow gan train --method zero-centered -o out/gan"};
    app.require_subcommand(1);
    app.set_version_flag("--version", RFLOW_VERSION);
    auto run_train = cli::add_train_commands(app);
    auto run_sample = cli::add_sample_commands(app);
    auto run_images = cli::add_image_commands(app);
    auto run_classifier = cli::add_classifier_commands(app);
    auto run_gan = cli::add_gan_commands(app);
    auto run_convert = cli::add_convert_commands(app);
    CLI::App* info = app.add_subcommand("info", "Show the build: version, devices, threads, PNG support");
    dist::init(&argc, &argv);  // under mpirun: data-parallel ranks (rflow/dist.hpp)
    if (!known_commands(app, argc, argv)) return 2;
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (const std::string problem = dist::environment_problem(); !problem.empty())
            throw cli::BadInput(problem + " (see docs/scale-out.md)");
        if (info->parsed()) {
            const std::string arch = cuda_build_arch();
            std::printf("rflow %s\ncuda backend: %s\ncuda: %s\nthreads: %d\npng: %s\nmpi: %s\nnccl: %s\n", RFLOW_VERSION,
                        arch.empty() ? "not built (no nvcc at configure time)" : ("built for " + arch).c_str(),
                        cuda_emulated()    ? "available (emulated by the CPU: RFLOW_EMULATE_CUDA=1)"
                        : cuda_available() ? "available"
                                           : "no GPU answers (CPU only)",
                        num_threads(),
                        io::png_supported() ? "yes" : "no",
                        dist::mpi_built() ? ("yes (rank " + std::to_string(dist::rank()) + " of " +
                                             std::to_string(dist::world_size()) + ")").c_str()
                                          : "no (built without libopenmpi-dev)",
                        dist::nccl_built() ? "yes (CUDA gradients GPU to GPU across ranks)"
                                           : "no (CUDA gradients across ranks go through the host and MPI)");
            return 0;
        }
        int rc = run_train();
        if (rc < 0) rc = run_sample();
        if (rc < 0) rc = run_images();
        if (rc < 0) rc = run_classifier();
        if (rc < 0) rc = run_gan();
        if (rc < 0) rc = run_convert();
        return rc < 0 ? 0 : rc;
    } catch (const cli::BadInput& e) {
        std::fprintf(stderr, "rflow: error: %s\n", e.what());
        if (dist::world_size() > 1) dist::abort(2);  // the other ranks would wait forever
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rflow: error: %s\n", e.what());
        if (dist::world_size() > 1) dist::abort(1);
        return 1;
    }
}
