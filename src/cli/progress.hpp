// Progress reporting for the CLI: a redrawn bar on a terminal, plain lines otherwise (stderr).
#pragma once

#include <cstdint>
#include <string>

namespace rflow::cli {

class Progress {
public:
    /// `every`: when stderr is not a terminal, print one line each `every` steps.
    Progress(std::string label, int64_t total, int64_t every);
    void update(int64_t step, double elapsed_s, const std::string& status);
    void finish();

private:
    std::string label_;
    int64_t total_, every_;
    bool tty_;
    double last_draw_ = -1;
};

}  // namespace rflow::cli
