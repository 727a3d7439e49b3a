// Range checks for the CLI's numeric flags, in one place: every number a command takes is finite
// and bounded (so that a typo cannot allocate absurd memory or train forever), and --seed -1
// draws a random seed. Messages read "--flag: got 'x' (expected ...)" (CLI11 adds the flag).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "rflow/models.hpp"

namespace rflow::cli {

/// Upper bounds of the sizes a flag may ask for; those of a model come from the model registry
/// (rflow/models.hpp), which holds a model config in a file to the same limits.
constexpr int64_t kMaxSteps = 1'000'000'000;     ///< optimisation steps (and step intervals)
constexpr int64_t kMaxSolverSteps = 1'000'000;   ///< steps of a fixed-step ODE solver
constexpr int64_t kMaxBatch = 1 << 20;           ///< batch size
constexpr int64_t kMaxWidth = model_limits::kMaxWidth;
constexpr int64_t kMaxDepth = model_limits::kMaxDepth;
constexpr int64_t kMaxHeads = model_limits::kMaxHeads;
constexpr int64_t kMaxImageSize = model_limits::kMaxImageSize;
constexpr int64_t kMaxParameters = model_limits::kMaxParameters;
constexpr int64_t kMaxSamples = 1'000'000;       ///< samples drawn for pictures and metrics
constexpr int64_t kMaxPairs = 10'000'000;        ///< reflow/distill pairs
constexpr int64_t kMaxThreads = 4096;
constexpr int64_t kMaxInnerSteps = 10000;        ///< GAN critic / regression steps per generator step
constexpr int64_t kMaxClasses = model_limits::kMaxClasses;
constexpr int64_t kMaxW2Points = 10000;          ///< exact W2 is an O(n^3) assignment
constexpr int64_t kMaxChannelMult = model_limits::kMaxChannelMult;

/// A whole number in [lo, hi]; the value is rewritten in plain digits ("1e3" -> "1000"), so
/// register it with Option::transform.
CLI::Validator count_in(int64_t lo, int64_t hi);
/// A finite number between lo and hi (each end open or closed).
CLI::Validator number_in(double lo, double hi, bool lo_open = false, bool hi_open = false);
/// A finite number > 0.
const CLI::Validator& finite_positive();
/// A finite number >= 0.
const CLI::Validator& non_negative();
/// A probability: a number in [0, 1].
const CLI::Validator& probability();
/// Any finite number (no inf, no nan).
const CLI::Validator& finite();
/// A guidance scale: a finite number in [-1000, 1000].
const CLI::Validator& guidance_scale();
/// An ODE solver tolerance: a number in (0, 1].
const CLI::Validator& tolerance();

/// Adds --seed: a whole number >= 0, or -1 for a random seed, which is drawn at parse time,
/// printed to stderr ("seed: N") and stored in `seed`, so that it is recorded like a given one.
CLI::Option* add_seed_option(CLI::App* app, uint64_t& seed, const std::string& help);

/// Together the size flags must stay sane too: BadInput naming `flags` (e.g. "--hidden 16384
/// --depth 256") when a network would have over 1e9 parameters or a batch over 4e9 activations
/// (rough estimates by the caller, in numbers of floats).
void check_network_size(const std::string& flags, double parameters, double activations);

/// Parses a whole number of a list item or spec ("euler:4"); BadInput naming `what` when it is
/// not a whole number in [lo, hi].
int64_t parse_count(const std::string& text, int64_t lo, int64_t hi, const std::string& what);
/// Parses a finite number in [lo, hi] (open at lo when lo_open); BadInput naming `what` otherwise.
double parse_number(const std::string& text, double lo, double hi, bool lo_open, const std::string& what);

/// A JSON value as shown in a message: its compact text, cut to `max` characters ("..." marks the
/// cut), so that a huge value from a file cannot flood the terminal.
std::string shown_value(const nlohmann::json& value, size_t max = 200);

}  // namespace rflow::cli
