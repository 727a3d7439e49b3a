// The shared flow-matching training loop of the CLI (see flow_training.hpp).
#include "flow_training.hpp"

#include <cstdio>
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "progress.hpp"

namespace rflow::cli {

void resume_training(trainers::FlowMatchingTrainer& trainer, const std::string& path,
                     const std::function<void(const io::Checkpoint&)>& check) {
    io::Checkpoint c = as_input([&] { return io::load_checkpoint(path); });
    if (check) check(c);
    as_input([&] {
        trainer.restore(c);
        return 0;
    });
    std::fprintf(stderr, "resumed from %s at step %lld\n", path.c_str(), static_cast<long long>(c.step));
}

void run_flow_loop(trainers::FlowMatchingTrainer& trainer, std::ostream& metrics, const FlowLoopOptions& o) {
    Progress bar(o.label, trainer.config().steps, o.log_every);
    const auto save = [&] {
        io::Checkpoint c = trainer.checkpoint(o.config_json);
        if (o.on_save) o.on_save(c);
        io::save_checkpoint(o.checkpoint_path, c);
    };
    double window = 0;
    int64_t window_n = 0;
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
}

}  // namespace rflow::cli
