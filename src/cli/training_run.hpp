// One training run's bookkeeping, shared by every training command (train, reflow, distill,
// train-images, gan train, train-classifier): the output folder's checkpoint (resume with config
// checks, periodic and final atomic saves, never a non-finite one), metrics.jsonl, a progress
// bar with the window-mean loss, a time budget, and the divergence message. The scalars and
// pictures also go to TensorBoard event files in <output>/tensorboard (`tensorboard --logdir`).
// Under mpirun (rflow/dist.hpp) every rank resumes from the checkpoint, and rank 0 alone writes.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "progress.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/tensorboard.hpp"

namespace CLI {
class App;
}

namespace rflow::cli {

struct RunOptions {
    std::string label;                       ///< progress bar label
    std::string output;                      ///< folder: checkpoint.safetensors, metrics.jsonl
    std::string checkpoint_name = "checkpoint.safetensors";
    int64_t total_steps = 0;
    bool resume = false;                     ///< continue from the folder's checkpoint if there is one
    int64_t log_every = 100;                 ///< a metrics line of window means every this many steps
    int64_t checkpoint_every = 0;            ///< 0 = only at the end
    double time_budget_min = 0;              ///< 0 = no limit
    bool tensorboard = true;                 ///< event files in <output>/tensorboard
};

/// A command's defaults for the flags below (the rest of RunOptions is filled in at run time).
RunOptions run_defaults(int64_t log_every, int64_t checkpoint_every);

/// The flags every training command shares, into `o` (its values are the defaults shown):
/// --resume, --log-every, --checkpoint-every, --time-budget, --tensorboard / --no-tensorboard.
/// `unit` names what a step is in the help ("Steps", "Generator steps").
void add_run_flags(CLI::App* app, RunOptions& o, const std::string& unit = "Steps");

/// A config value shown in a message: "unset" for a key the run does not set.
std::string shown_or_unset(const nlohmann::json& v);

class TrainingRun {
public:
    /// Creates the output folder and removes the write temporaries that killed runs left there.
    TrainingRun(RunOptions o, nlohmann::json config);

    /// With --resume and a checkpoint in the folder: refuses (BadInput naming the file and the key)
    /// when any of `keys` differs between the checkpoint's config and this run's (a key absent from
    /// either reads "unset"), runs `check` (which may refuse too), then `restore`, and says where
    /// it resumed. Opens metrics.jsonl after, appending when resuming. Returns the step resumed
    /// from, or -1.
    int64_t resume(const std::vector<std::string>& keys, const std::function<void(const io::Checkpoint&)>& restore,
                   const std::function<void(const io::Checkpoint&, const nlohmann::json& saved)>& check = nullptr);

    /// One metrics.jsonl line, flushed; its numbers (but "step" and "elapsed_s") also go to
    /// TensorBoard as scalars at row["step"].
    void log(const nlohmann::json& row);
    /// A picture rflow wrote (samples, a scatter plot) shown in TensorBoard's images at `step`;
    /// a warning, not an error, when it cannot be read back (e.g. a build without OpenCV).
    void log_picture(const std::string& tag, const std::string& png_path, int64_t step);

    /// After each step: the progress bar, a metrics line of the window means of `values` every
    /// log_every steps (and at the last), a checkpoint every checkpoint_every steps (not the last:
    /// finish() writes that one), the time budget. Returns false when the run should stop.
    bool after_step(int64_t step, double elapsed_s, const std::vector<std::pair<std::string, double>>& values,
                    const std::function<io::Checkpoint()>& checkpoint, const std::string& note = "");

    /// Ends the progress bar and writes the final checkpoint.
    void finish(const io::Checkpoint& final_checkpoint);

    /// Writes c to the checkpoint path unless its weights or optimizer state hold a NaN or
    /// infinity (trainers::NonFiniteError then): the file keeps the last good one.
    void save(const io::Checkpoint& c);

    /// "training diverged: <what>", saying when the run had resumed (and diverged again), which
    /// checkpoint step is kept, and suggesting a lower --lr. Ends the progress bar.
    std::string diverged(const std::string& what, int64_t resumed_from);

    const std::string& checkpoint_path() const { return checkpoint_path_; }
    const std::string& metrics_path() const { return metrics_path_; }
    const nlohmann::json& config() const { return config_; }
    std::string config_json() const { return config_.dump(); }

private:
    RunOptions o_;
    nlohmann::json config_;
    std::string checkpoint_path_, metrics_path_;
    std::ofstream metrics_;
    std::unique_ptr<io::TensorBoardWriter> tensorboard_;
    Progress bar_;
    bool root_;  // rank 0 of a data-parallel run (or the only process): the one that writes
    int64_t resumed_from_ = -1, saved_step_ = -1;
    std::vector<std::pair<std::string, double>> window_;  // running sums since the last metrics line
    int64_t window_n_ = 0;
    void open_metrics(bool append);
};

/// BadInput naming --batch-size when the global batch does not divide among the MPI ranks
/// (each trains on an equal share of the rows, rflow/dist.hpp).
void check_batch_for_ranks(int64_t batch);

/// Writes c to path unless it holds non-finite values (see TrainingRun::save).
void save_finite_checkpoint(const std::string& path, const io::Checkpoint& c);
/// Removes the write temporaries that killed runs left in the folder of `path`, saying so.
void remove_orphaned_temps_beside(const std::string& path);

}  // namespace rflow::cli
