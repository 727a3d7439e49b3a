// The training-run harness of the CLI (see training_run.hpp).
#include "training_run.hpp"

#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "cli_common.hpp"
#include "flag_checks.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/dist.hpp"
#include "rflow/io/image.hpp"
#include "rflow/trainers/flow_matching.hpp"

namespace rflow::cli {

namespace fs = std::filesystem;

std::string shown_or_unset(const nlohmann::json& v) { return v.is_null() ? "unset" : shown_value(v); }

void save_finite_checkpoint(const std::string& path, const io::Checkpoint& c) {
    auto finite = [](const io::TensorList& list) {
        std::vector<Tensor> tensors;
        for (const auto& kv : list) tensors.push_back(kv.second);
        return trainers::all_finite(tensors);
    };
    if (!finite(c.model) || !finite(c.optimizer))
        throw trainers::NonFiniteError("the weights or optimizer state at step " + std::to_string(c.step) +
                                       " are not finite; not writing them to " + path);
    io::save_checkpoint(path, c);
}

void check_batch_for_ranks(int64_t batch) {
    if (batch % dist::world_size() != 0)
        throw BadInput("--batch-size " + std::to_string(batch) + " does not divide among " +
                       std::to_string(dist::world_size()) + " MPI ranks: pick a multiple of the rank count");
}

void remove_orphaned_temps_beside(const std::string& path) {
    std::string folder = fs::path(path).parent_path().string();
    if (folder.empty()) folder = ".";
    if (const int n = io::remove_orphaned_temp_files(folder))
        std::fprintf(stderr, "removed %d temporary file(s) left in %s by an interrupted run\n", n, folder.c_str());
}

RunOptions run_defaults(int64_t log_every, int64_t checkpoint_every) {
    RunOptions o;
    o.log_every = log_every;
    o.checkpoint_every = checkpoint_every;
    return o;
}

void add_run_flags(CLI::App* app, RunOptions& o, const std::string& unit) {
    app->add_flag("--resume", o.resume, "Continue from <output>/" + o.checkpoint_name);
    app->add_option("--log-every", o.log_every, unit + " between metrics.jsonl lines (window means)")
        ->capture_default_str()->transform(count_in(1, kMaxSteps));
    app->add_option("--checkpoint-every", o.checkpoint_every, unit + " between checkpoints (0 = only at the end)")
        ->capture_default_str()->transform(count_in(0, kMaxSteps));
    app->add_option("--time-budget", o.time_budget_min, "Stop after this many minutes of training (0 = no limit)")
        ->capture_default_str()->check(non_negative());
    app->add_flag("--tensorboard,!--no-tensorboard", o.tensorboard,
                  "TensorBoard event files (scalars, sample pictures) in <output>/tensorboard, for `tensorboard "
                  "--logdir` (default on)");
}

TrainingRun::TrainingRun(RunOptions o, nlohmann::json config)
    : o_(std::move(o)),
      config_(std::move(config)),
      checkpoint_path_((fs::path(o_.output) / o_.checkpoint_name).string()),
      metrics_path_((fs::path(o_.output) / "metrics.jsonl").string()),
      bar_(o_.label, o_.total_steps, o_.log_every),
      root_(dist::is_root()) {
    if (!root_) return;  // data-parallel ranks other than 0 read the checkpoint, but write nothing
    fs::create_directories(o_.output);
    remove_orphaned_temps_beside(checkpoint_path_);
    if (o_.tensorboard) tensorboard_ = std::make_unique<io::TensorBoardWriter>((fs::path(o_.output) / "tensorboard").string());
}

void TrainingRun::open_metrics(bool append) {
    if (metrics_.is_open()) return;
    metrics_.open(metrics_path_, append ? std::ios::app : std::ios::trunc);
    if (!metrics_) throw Error("cannot write " + metrics_path_);
}

int64_t TrainingRun::resume(const std::vector<std::string>& keys,
                            const std::function<void(const io::Checkpoint&)>& restore,
                            const std::function<void(const io::Checkpoint&, const nlohmann::json&)>& check) {
    if (o_.resume && fs::exists(checkpoint_path_)) {
        io::Checkpoint c = as_input([&] { return io::load_checkpoint(checkpoint_path_); });
        const nlohmann::json saved = nlohmann::json::parse(c.config, nullptr, false);
        for (const std::string& key : keys) {
            const nlohmann::json was = saved.is_object() ? saved.value(key, nlohmann::json()) : nlohmann::json();
            const nlohmann::json now = config_.value(key, nlohmann::json());
            if (was != now)
                throw BadInput(checkpoint_path_ + ": cannot resume: the checkpoint has " + key + " = " +
                               shown_or_unset(was) + ", this run " + shown_or_unset(now));
        }
        if (check) check(c, saved.is_object() ? saved : nlohmann::json::object());
        as_input([&] {
            restore(c);
            return 0;
        });
        resumed_from_ = c.step;
        bar_.set_start(c.step);
        if (root_)
            std::fprintf(stderr, "resumed from %s at step %lld\n", checkpoint_path_.c_str(), static_cast<long long>(c.step));
    }
    if (root_) open_metrics(o_.resume);
    return resumed_from_;
}

void TrainingRun::log(const nlohmann::json& row) {
    if (!root_) return;
    open_metrics(o_.resume);
    metrics_ << row.dump() << "\n" << std::flush;
    if (!tensorboard_ || !row.contains("step") || !row["step"].is_number_integer()) return;
    const int64_t step = row["step"].get<int64_t>();
    for (const auto& [key, value] : row.items())
        if (key != "step" && key != "elapsed_s" && value.is_number()) tensorboard_->add_scalar(key, value.get<double>(), step);
}

void TrainingRun::log_picture(const std::string& tag, const std::string& png_path, int64_t step) {
    if (!root_ || !tensorboard_) return;
    try {
        tensorboard_->add_image(tag, io::read_image(png_path, 3), step);
    } catch (const Error& e) {
        std::fprintf(stderr, "warning: %s not shown in TensorBoard: %s\n", png_path.c_str(), e.what());
    }
}

bool TrainingRun::after_step(int64_t step, double elapsed_s, const std::vector<std::pair<std::string, double>>& values,
                             const std::function<io::Checkpoint()>& checkpoint, const std::string& note) {
    if (window_.size() != values.size()) {
        window_ = values;
        for (auto& kv : window_) kv.second = 0;
        window_n_ = 0;
    }
    for (size_t i = 0; i < values.size(); ++i) window_[i].second += values[i].second;
    ++window_n_;
    // the bar shows the window mean: one step's loss jumps with its batch
    std::string status;
    for (const auto& [key, sum] : window_)
        status += (status.empty() ? "" : " ") + key + " " + fmt("%.4f", sum / static_cast<double>(window_n_));
    if (!note.empty()) status += " | " + note;
    if (root_) bar_.update(step, elapsed_s, status);
    if (step % o_.log_every == 0 || step == o_.total_steps) {
        nlohmann::json row = {{"step", step}};
        for (const auto& [key, sum] : window_) row[key] = sum / static_cast<double>(window_n_);
        row["elapsed_s"] = elapsed_s;
        log(row);
        for (auto& kv : window_) kv.second = 0;
        window_n_ = 0;
    }
    if (o_.checkpoint_every > 0 && step % o_.checkpoint_every == 0 && step != o_.total_steps) save(checkpoint());
    // ranks could disagree on the clock: rank 0's decides for all
    const bool over = root_ && elapsed_s > 60.0 * o_.time_budget_min;
    if (o_.time_budget_min > 0 && dist::allreduce_mean(over ? 1.0 : 0.0) > 0) {
        if (root_)
            std::fprintf(stderr, "\ntime budget of %.1f min reached at step %lld\n", o_.time_budget_min,
                         static_cast<long long>(step));
        return false;
    }
    return true;
}

void TrainingRun::save(const io::Checkpoint& c) {
    if (!root_) return;
    save_finite_checkpoint(checkpoint_path_, c);
    saved_step_ = c.step;
}

void TrainingRun::finish(const io::Checkpoint& final_checkpoint) {
    if (root_) bar_.finish();
    save(final_checkpoint);
}

std::string TrainingRun::diverged(const std::string& what, int64_t resumed_from) {
    if (root_) bar_.finish();
    std::string msg = "training diverged: " + what;
    if (resumed_from >= 0) msg += "; the run diverged again after resuming from step " + std::to_string(resumed_from);
    const int64_t kept = saved_step_ >= 0 ? saved_step_ : resumed_from;
    if (kept >= 0) msg += "; " + checkpoint_path_ + " keeps the good weights of step " + std::to_string(kept);
    else msg += "; no checkpoint was written";
    return msg + ". Try a lower --lr (or --grad-clip)";
}

}  // namespace rflow::cli
