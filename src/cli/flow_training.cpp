// The shared flow-matching training loop of the CLI (see flow_training.hpp).
#include "flow_training.hpp"

#include <cstdio>
#include <filesystem>
#include <ostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "flag_checks.hpp"
#include "progress.hpp"
#include "rflow/io/atomic_file.hpp"

namespace rflow::cli {

void add_ema_flags(CLI::App* c, float& decay, bool& warmup, const std::string& what) {
    c->add_option("--ema", decay, "EMA decay of the weights in [0, 1) (0 = off); " + what)
        ->capture_default_str()->check(number_in(0, 1, false, true));
    c->add_flag("--ema-warmup,!--no-ema-warmup", warmup,
                std::string("EMA decay min(ema, (1 + n) / (10 + n)) at update n, so a short run's EMA is not its "
                            "initialisation (default ") + (warmup ? "on)" : "off)"));
}

void resume_training(trainers::FlowMatchingTrainer& trainer, const std::string& path,
                     const std::function<void(const io::Checkpoint&)>& check) {
    io::Checkpoint c = as_input([&] { return io::load_checkpoint(path); });
    // the EMA continues only as it began: a different decay would average two schedules, and a
    // checkpoint without EMA state has nothing to continue (checkpoints from before the warmup
    // existed have none)
    const nlohmann::json saved = nlohmann::json::parse(c.config, nullptr, false);
    if (saved.is_object()) {
        const trainers::FlowMatchingConfig& run = trainer.config();
        const auto saved_ema = saved.contains("ema") && saved["ema"].is_number() ? saved["ema"].get<float>() : 0.f;
        if (saved_ema != run.ema_decay)
            throw BadInput(path + ": cannot resume: the checkpoint was trained with --ema " + fmt("%g", saved_ema) +
                           ", this run has --ema " + fmt("%g", run.ema_decay) + " (pass --ema " + fmt("%g", saved_ema) +
                           " to continue it)");
        const bool saved_warmup = saved.contains("ema_warmup") && saved["ema_warmup"].is_boolean() &&
                                  saved["ema_warmup"].get<bool>();
        if (run.ema_decay > 0.f && saved_warmup != run.ema_warmup)
            throw BadInput(path + ": cannot resume: the checkpoint's EMA " +
                           (saved_warmup ? "warms up, this run's does not (drop --no-ema-warmup)"
                                         : "has no warmup, this run's does (pass --no-ema-warmup to continue it)"));
    }
    if (check) check(c);
    as_input([&] {
        trainer.restore(c);
        return 0;
    });
    std::fprintf(stderr, "resumed from %s at step %lld\n", path.c_str(), static_cast<long long>(c.step));
}

namespace {

std::vector<Tensor> tensors_of(const io::TensorList& list) {
    std::vector<Tensor> out;
    for (const auto& kv : list) out.push_back(kv.second);
    return out;
}

}  // namespace

void save_finite_checkpoint(const std::string& path, const io::Checkpoint& c) {
    if (!trainers::all_finite(tensors_of(c.model)) || !trainers::all_finite(tensors_of(c.optimizer)))
        throw trainers::NonFiniteError("the weights or optimizer state at step " + std::to_string(c.step) +
                                       " are not finite; not writing them to " + path);
    io::save_checkpoint(path, c);
}

void remove_orphaned_temps_beside(const std::string& path) {
    std::string folder = std::filesystem::path(path).parent_path().string();
    if (folder.empty()) folder = ".";
    if (const int n = io::remove_orphaned_temp_files(folder))
        std::fprintf(stderr, "removed %d temporary file(s) left in %s by an interrupted run\n", n, folder.c_str());
}

namespace {

}  // namespace

void run_flow_loop(trainers::FlowMatchingTrainer& trainer, std::ostream& metrics, const FlowLoopOptions& o) {
    remove_orphaned_temps_beside(o.checkpoint_path);
    Progress bar(o.label, trainer.config().steps, o.log_every);
    int64_t saved_step = -1;  // the step of the last checkpoint this run wrote
    const auto save = [&] {
        io::Checkpoint c = trainer.checkpoint(o.config_json);
        if (o.on_save) o.on_save(c);
        save_finite_checkpoint(o.checkpoint_path, c);
        saved_step = c.step;
    };
    double window = 0;
    int64_t window_n = 0;
    try {
        trainer.train([&](const trainers::TrainProgress& p) {
            window += p.loss;
            ++window_n;
            bar.update(p.step, p.elapsed_s, "loss " + fmt("%.4f", p.loss));
            if (p.step % o.log_every == 0 || p.step == p.total) {
                metrics << nlohmann::json{{"step", p.step}, {"loss", window / window_n}, {"elapsed_s", p.elapsed_s}}.dump()
                        << "\n" << std::flush;
                window = 0;
                window_n = 0;
            }
            if (o.checkpoint_every > 0 && p.step % o.checkpoint_every == 0 && p.step != p.total) save();
            if (o.on_step) o.on_step(p.step);
            if (o.time_budget_min > 0 && p.elapsed_s > 60.0 * o.time_budget_min) {
                std::fprintf(stderr, "\ntime budget of %.1f min reached at step %lld\n", o.time_budget_min,
                             static_cast<long long>(p.step));
                return false;
            }
            return true;
        });
        bar.finish();
        save();
    } catch (const trainers::NonFiniteError& e) {
        bar.finish();
        throw Error(diverged_message(e.what(), trainer.resumed_from(), saved_step, o.checkpoint_path));
    }
}

std::string diverged_message(const std::string& what, int64_t resumed_from, int64_t saved_step,
                             const std::string& checkpoint_path) {
    std::string msg = "training diverged: " + what;
    if (resumed_from >= 0)
        msg += "; the run diverged again after resuming from step " + std::to_string(resumed_from);
    const int64_t kept = saved_step >= 0 ? saved_step : resumed_from;
    if (kept >= 0) msg += "; " + checkpoint_path + " keeps the good weights of step " + std::to_string(kept);
    else msg += "; no checkpoint was written";
    return msg + ". Try a lower --lr (or --grad-clip)";
}

}  // namespace rflow::cli
