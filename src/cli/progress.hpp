// Progress reporting for the CLI: a redrawn bar on a terminal, plain lines otherwise (stderr).
#pragma once

#include <cstdint>
#include <string>

namespace rflow::cli {

class Progress {
public:
    /// `every`: when stderr is not a terminal, print one line each `every` steps.
    Progress(std::string label, int64_t total, int64_t every);
    /// The step this process started from (a resumed run's checkpoint step): rate and ETA count
    /// only the steps taken since, against the time since.
    void set_start(int64_t step) { start_ = step; }
    void update(int64_t step, double elapsed_s, const std::string& status);
    void finish();

    /// The bar line as drawn: cut to `columns` characters (the terminal's width) when longer.
    static std::string line(const std::string& label, int64_t step, int64_t total, const std::string& status,
                            double rate, double eta_s, int columns);

private:
    std::string label_;
    int64_t total_, every_, start_ = 0;
    bool tty_;
    double last_draw_ = -1;
};

}  // namespace rflow::cli
