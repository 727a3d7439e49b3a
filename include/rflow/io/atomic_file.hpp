// Whole-file reads and crash-safe whole-file writes (temp file + fsync + rename).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"

namespace rflow::io {

/// Writes n bytes to `path` atomically: writes `path.tmp.<pid>` in the same directory, flushes and
/// fsyncs it, then renames it over `path`. On failure the temp file is removed, `path` is left as it
/// was, and rflow::Error names the path and the errno text.
RFLOW_API void write_file_atomic(const std::string& path, const void* data, size_t n);

/// Reads the whole file; rflow::Error names the path and the errno text on failure.
RFLOW_API std::vector<uint8_t> read_file(const std::string& path);

}  // namespace rflow::io
