// The training loop shared by `rflow train|reflow|distill` and `rflow train-images`: resume from
// the output's checkpoint, a progress bar, a metrics.jsonl line of the mean loss every log_every
// steps, periodic and final atomic checkpoints, an optional time budget and a per-step hook.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "rflow/io/checkpoint.hpp"
#include "rflow/trainers/flow_matching.hpp"

namespace CLI {
class App;
}

namespace rflow::cli {

/// --ema DECAY and --ema-warmup/--no-ema-warmup, defaults taken from the variables (see optim::Ema).
void add_ema_flags(CLI::App* c, float& decay, bool& warmup, const std::string& what = "samples and metrics use the EMA");

struct FlowLoopOptions {
    std::string label;            ///< progress bar label
    std::string checkpoint_path;
    std::string config_json;      ///< stored in every checkpoint
    int64_t log_every = 100;
    int64_t checkpoint_every = 0; ///< 0 = only at the end
    double time_budget_min = 0;   ///< 0 = no limit
    std::function<void(int64_t step)> on_step;  ///< after each step's bookkeeping (e.g. sample grids)
    std::function<void(io::Checkpoint&)> on_save;  ///< adds state of the caller's own to each checkpoint
};

/// Restores the trainer from `path` (BadInput naming the file if unreadable); `check` may
/// reject the checkpoint (throw BadInput) before anything is restored, as does an EMA decay or
/// warmup that differs from the checkpoint's config ("ema", "ema_warmup"; absent: 0, false). Prints where it resumed.
void resume_training(trainers::FlowMatchingTrainer& trainer, const std::string& path,
                     const std::function<void(const io::Checkpoint&)>& check = nullptr);

/// Writes c to path unless its weights or optimizer state hold a NaN or infinity (NonFiniteError
/// then): a checkpoint is kept as the last good one, so it is never a diverged one.
void save_finite_checkpoint(const std::string& path, const io::Checkpoint& c);

/// Removes the write temporaries that killed runs left in the folder of `path`, saying so.
void remove_orphaned_temps_beside(const std::string& path);

/// Trains to the configured step count (or the time budget), then writes the final checkpoint.
/// First removes temporary files that killed runs left in the checkpoint's folder. A checkpoint
/// with non-finite weights is never written; divergence ends in an Error made by diverged_message.
void run_flow_loop(trainers::FlowMatchingTrainer& trainer, std::ostream& metrics, const FlowLoopOptions& o);

/// "training diverged: <what>", saying when the run had resumed (and diverged again), which
/// checkpoint step is kept, and suggesting a lower --lr. saved_step / resumed_from: -1 for none.
std::string diverged_message(const std::string& what, int64_t resumed_from, int64_t saved_step,
                             const std::string& checkpoint_path);

}  // namespace rflow::cli
