// Progress bar / periodic progress lines on stderr.
#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace rflow::cli {

namespace {

// Columns of the terminal on stderr (80 when it does not say).
int terminal_columns() {
    winsize w{};
    if (ioctl(2, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
    return 80;
}

std::string duration(double s) {
    char buf[32];
    const long t = static_cast<long>(s + 0.5);
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

}  // namespace

Progress::Progress(std::string label, int64_t total, int64_t every)
    : label_(std::move(label)), total_(total), every_(every > 0 ? every : 100), tty_(isatty(2) != 0) {}

std::string Progress::line(const std::string& label, int64_t step, int64_t total, const std::string& status,
                           double rate, double eta_s, int columns) {
    char rate_text[48];
    if (rate >= 10 || rate == 0) std::snprintf(rate_text, sizeof rate_text, "%.0f it/s", rate);
    else if (rate >= 1) std::snprintf(rate_text, sizeof rate_text, "%.1f it/s", rate);
    else std::snprintf(rate_text, sizeof rate_text, "%.1f s/it", 1 / rate);
    const std::string counts = std::to_string(step) + "/" + std::to_string(total);
    const std::string tail = "  " + status + "  " + rate_text + "  eta " + duration(eta_s);
    // the bar takes what the label, counts and status leave, between 10 and 30 characters
    const int fixed = static_cast<int>(label.size() + counts.size() + tail.size()) + 4;
    const int width = std::clamp(columns - 1 - fixed, 10, 30);
    const int filled = total > 0 ? static_cast<int>(width * std::min(step, total) / total) : width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(static_cast<size_t>(width), '.');
    std::string out = label + " [" + bar + "] " + counts + tail;
    if (columns > 1 && static_cast<int>(out.size()) > columns - 1) out.resize(static_cast<size_t>(columns - 1));
    return out;
}

void Progress::update(int64_t step, double elapsed_s, const std::string& status) {
    const double rate = elapsed_s > 0 ? (step - start_) / elapsed_s : 0;
    const double eta = rate > 0 ? (total_ - step) / rate : 0;
    if (tty_) {
        if (elapsed_s - last_draw_ < 0.1 && step != total_) return;
        last_draw_ = elapsed_s;
        // \r, the line, then clear to the end of the line (a shorter line leaves no tail behind)
        std::fprintf(stderr, "\r%s\x1b[K", line(label_, step, total_, status, rate, eta, terminal_columns()).c_str());
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
