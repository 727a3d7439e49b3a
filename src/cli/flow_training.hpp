// The flow-matching side of the training harness, shared by `rflow train|reflow|distill` and
// `rflow train-images`: the EMA flags, resuming a FlowMatchingTrainer (with its EMA checks), and
// the loop that drives it through a TrainingRun (training_run.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>
#include <string>

#include "rflow/io/checkpoint.hpp"
#include "rflow/trainers/flow_matching.hpp"
#include "training_run.hpp"

namespace CLI {
class App;
}

namespace rflow::cli {

/// --ema DECAY and --ema-warmup/--no-ema-warmup, defaults taken from the variables (see optim::Ema).
void add_ema_flags(CLI::App* c, float& decay, bool& warmup, const std::string& what = "samples and metrics use the EMA");

/// Resumes the trainer through the run (TrainingRun::resume with `keys`), refusing first an EMA
/// decay or warmup that differs from the checkpoint's ("ema", "ema_warmup"; absent: 0, false),
/// with the flag that would continue it; `check` may refuse too. Returns the step, or -1.
int64_t resume_training(trainers::FlowMatchingTrainer& trainer, TrainingRun& run, const std::vector<std::string>& keys = {},
                        const std::function<void(const io::Checkpoint&)>& check = nullptr);

/// Trains to the configured step count (or the run's time budget), then writes the final
/// checkpoint; `on_step` runs after each step's bookkeeping (e.g. sample grids), `on_save` adds
/// state of the caller's own to each checkpoint. Divergence ends in an Error saying which
/// checkpoint step is kept.
void run_flow_loop(trainers::FlowMatchingTrainer& trainer, TrainingRun& run,
                   const std::function<void(int64_t step)>& on_step = nullptr,
                   const std::function<void(io::Checkpoint&)>& on_save = nullptr);

}  // namespace rflow::cli
