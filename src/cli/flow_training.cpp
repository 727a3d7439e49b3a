// The flow-matching side of the CLI's training harness (see flow_training.hpp).
#include "flow_training.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "flag_checks.hpp"

namespace rflow::cli {

void add_ema_flags(CLI::App* c, float& decay, bool& warmup, const std::string& what) {
    c->add_option("--ema", decay, "EMA decay of the weights in [0, 1) (0 = off); " + what)
        ->capture_default_str()->check(number_in(0, 1, false, true));
    c->add_flag("--ema-warmup,!--no-ema-warmup", warmup,
                std::string("EMA decay min(ema, (1 + n) / (10 + n)) at update n, so a short run's EMA is not its "
                            "initialisation (default ") + (warmup ? "on)" : "off)"));
}

int64_t resume_training(trainers::FlowMatchingTrainer& trainer, TrainingRun& run, const std::vector<std::string>& keys,
                        const std::function<void(const io::Checkpoint&)>& check) {
    // the EMA continues only as it began: a different decay would average two schedules, and a
    // checkpoint without EMA state has nothing to continue (checkpoints from before the warmup
    // existed have none)
    const auto ema_check = [&](const io::Checkpoint& c, const nlohmann::json& saved) {
        const std::string& path = run.checkpoint_path();
        const trainers::FlowMatchingConfig& cfg = trainer.config();
        const auto saved_ema = saved.contains("ema") && saved["ema"].is_number() ? saved["ema"].get<float>() : 0.f;
        if (saved_ema != cfg.ema_decay)
            throw BadInput(path + ": cannot resume: the checkpoint was trained with --ema " + fmt("%g", saved_ema) +
                           ", this run has --ema " + fmt("%g", cfg.ema_decay) + " (pass --ema " + fmt("%g", saved_ema) +
                           " to continue it)");
        const bool saved_warmup = saved.contains("ema_warmup") && saved["ema_warmup"].is_boolean() &&
                                  saved["ema_warmup"].get<bool>();
        if (cfg.ema_decay > 0.f && saved_warmup != cfg.ema_warmup)
            throw BadInput(path + ": cannot resume: the checkpoint's EMA " +
                           (saved_warmup ? "warms up, this run's does not (drop --no-ema-warmup)"
                                         : "has no warmup, this run's does (pass --no-ema-warmup to continue it)"));
        if (check) check(c);
    };
    return run.resume(keys, [&](const io::Checkpoint& c) { trainer.restore(c); }, ema_check);
}

void run_flow_loop(trainers::FlowMatchingTrainer& trainer, TrainingRun& run, const std::function<void(int64_t)>& on_step,
                   const std::function<void(io::Checkpoint&)>& on_save) {
    check_batch_for_ranks(trainer.config().batch);
    const auto checkpoint = [&] {
        io::Checkpoint c = trainer.checkpoint(run.config_json());
        if (on_save) on_save(c);
        return c;
    };
    try {
        trainer.train([&](const trainers::TrainProgress& p) {
            const bool go_on = run.after_step(p.step, p.elapsed_s, {{"loss", p.loss}}, checkpoint);
            if (on_step) on_step(p.step);
            return go_on;
        });
        run.finish(checkpoint());
    } catch (const trainers::NonFiniteError& e) {
        throw Error(run.diverged(e.what(), trainer.resumed_from()));
    }
}

}  // namespace rflow::cli
