// Progress bar / periodic progress lines on stderr.
#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace rflow::cli {

Progress::Progress(std::string label, int64_t total, int64_t every)
    : label_(std::move(label)), total_(total), every_(every > 0 ? every : 100), tty_(isatty(2) != 0) {}

void Progress::update(int64_t step, double elapsed_s, const std::string& status) {
    const double rate = elapsed_s > 0 ? step / elapsed_s : 0;
    const double eta = rate > 0 ? (total_ - step) / rate : 0;
    if (tty_) {
        if (elapsed_s - last_draw_ < 0.1 && step != total_) return;
        last_draw_ = elapsed_s;
        const int width = 30;
        const int filled = total_ > 0 ? static_cast<int>(width * step / total_) : width;
        std::string bar(filled, '#');
        bar.resize(width, '.');
        std::fprintf(stderr, "\r%s [%s] %lld/%lld  %s  %.0f it/s  eta %.0fs ", label_.c_str(), bar.c_str(),
                     static_cast<long long>(step), static_cast<long long>(total_), status.c_str(), rate, eta);
        std::fflush(stderr);
    } else if (step % every_ == 0 || step == total_) {
        std::fprintf(stderr, "%s step %lld/%lld  %s  %.1fs elapsed\n", label_.c_str(), static_cast<long long>(step),
                     static_cast<long long>(total_), status.c_str(), elapsed_s);
    }
}

void Progress::finish() {
    if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace rflow::cli
