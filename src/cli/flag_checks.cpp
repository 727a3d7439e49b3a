// Range checks for numeric CLI flags and the random --seed (see flag_checks.hpp).
#include "flag_checks.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "cli_common.hpp"

namespace rflow::cli {

namespace {

// The whole text as a number (no trailing characters, no leading blanks); false otherwise.
bool read_number(const std::string& s, double& x) {
    if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
    char* end = nullptr;
    x = std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size();
}

std::string number_text(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
}

// The interval as --help shows it beside the type: "[0, 1)", "> 0", "finite".
std::string interval_label(double lo, double hi, bool lo_open, bool hi_open) {
    if (std::isinf(hi) && std::isinf(lo)) return "finite";
    if (std::isinf(hi)) return (lo_open ? "> " : ">= ") + number_text(lo);
    return (lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) + (hi_open ? ")" : "]");
}

std::string interval_text(double lo, double hi, bool lo_open, bool hi_open) {
    if (std::isinf(hi) && std::isinf(lo)) return "a finite number";
    if (std::isinf(hi)) return "a finite number " + interval_label(lo, hi, lo_open, hi_open);
    return "a number in " + interval_label(lo, hi, lo_open, hi_open);
}

// "" when x lies in the interval, else why not.
std::string check_number(const std::string& s, double lo, double hi, bool lo_open, bool hi_open) {
    double x = 0;
    const bool inside = read_number(s, x) && std::isfinite(x) && (lo_open ? x > lo : x >= lo) &&
                        (hi_open ? x < hi : x <= hi);
    return inside ? "" : "got '" + s + "' (expected " + interval_text(lo, hi, lo_open, hi_open) + ")";
}

// Digits are read exactly (seeds need all 64 bits); other spellings ("1e3") through a double.
std::string check_count(std::string& s, int64_t lo, int64_t hi) {
    const std::string why =
        "got '" + s + "' (expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ")";
    if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return why;
    errno = 0;
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (end != s.c_str() + s.size() || errno == ERANGE) {
        double x = 0;
        if (!read_number(s, x) || !std::isfinite(x) || x != std::floor(x) || x < static_cast<double>(lo) ||
            x > static_cast<double>(hi))
            return why;
        n = static_cast<long long>(x);
    }
    if (n < lo || n > hi) return why;
    s = std::to_string(n);
    return "";
}

}  // namespace

CLI::Validator count_in(int64_t lo, int64_t hi) {
    return CLI::Validator([lo, hi](std::string& s) { return check_count(s, lo, hi); },
                          "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

CLI::Validator number_in(double lo, double hi, bool lo_open, bool hi_open) {
    return CLI::Validator([=](std::string& s) { return check_number(s, lo, hi, lo_open, hi_open); },
                          interval_label(lo, hi, lo_open, hi_open));
}

const CLI::Validator& finite_positive() {
    static const CLI::Validator v = number_in(0, INFINITY, true);
    return v;
}

const CLI::Validator& non_negative() {
    static const CLI::Validator v = number_in(0, INFINITY);
    return v;
}

const CLI::Validator& probability() {
    static const CLI::Validator v = number_in(0, 1);
    return v;
}

const CLI::Validator& finite() {
    static const CLI::Validator v = number_in(-INFINITY, INFINITY);
    return v;
}

const CLI::Validator& guidance_scale() {
    static const CLI::Validator v = number_in(-1000, 1000);
    return v;
}

const CLI::Validator& tolerance() {
    static const CLI::Validator v = number_in(0, 1, true);
    return v;
}

CLI::Option* add_seed_option(CLI::App* app, uint64_t& seed, const std::string& help) {
    const CLI::Validator seed_or_random(
        [](std::string& s) -> std::string {
            if (s == "-1") {
                std::random_device rd;
                s = std::to_string(rd());  // 32 bits: short enough to copy into the next command
                std::fprintf(stderr, "seed: %s\n", s.c_str());
                return "";
            }
            return check_count(s, 0, INT64_MAX / 2);
        },
        "SEED (-1 = random)");
    return app->add_option("--seed", seed, help + " (-1 = a random seed, printed and recorded)")
        ->capture_default_str()
        ->transform(seed_or_random);
}

void check_network_size(const std::string& flags, double parameters, double activations) {
    constexpr double kMaxActivations = 4e9;
    if (parameters > static_cast<double>(kMaxParameters))
        throw BadInput(flags + ": a network of about " + number_text(parameters) + " parameters (at most " +
                       number_text(static_cast<double>(kMaxParameters)) + "); use smaller sizes");
    if (activations > kMaxActivations)
        throw BadInput(flags + ": about " + number_text(activations) + " activations per batch (at most " +
                       number_text(kMaxActivations) + "); use a smaller batch or network");
}

int64_t parse_count(const std::string& text, int64_t lo, int64_t hi, const std::string& what) {
    std::string s = text;
    const std::string why = check_count(s, lo, hi);
    if (!why.empty()) throw BadInput(what + ": " + why);
    return std::stoll(s);
}

double parse_number(const std::string& text, double lo, double hi, bool lo_open, const std::string& what) {
    const std::string why = check_number(text, lo, hi, lo_open, false);
    if (!why.empty()) throw BadInput(what + ": " + why);
    return std::strtod(text.c_str(), nullptr);
}

std::string shown_value(const nlohmann::json& value, size_t max) {
    std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.size() > max) text = text.substr(0, max) + "... (" + std::to_string(text.size()) + " characters)";
    return text;
}

}  // namespace rflow::cli
