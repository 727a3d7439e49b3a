// Whole-file reads and crash-safe whole-file writes (temp file + fsync + rename), with retries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"

namespace rflow::io {

/// Writes n bytes to `path` atomically: writes `path.tmp.<pid>.<n>` in the same directory, flushes
/// and fsyncs it, then renames it over `path`. A transient failure (EINTR, EAGAIN, EBUSY, ETXTBSY)
/// at any step removes the temp file and starts again with a new one, under file_retry_policy()
/// (rflow/io/file_retry.hpp). On final failure no temp file is left, `path` is left as it was, and
/// the error (TransientIOError for a transient errno, else rflow::Error) names the path, the step
/// and the errno text.
RFLOW_API void write_file_atomic(const std::string& path, const void* data, size_t n);

/// Reads the whole file, retried from scratch on transient errors like write_file_atomic; the
/// error names the path and the errno text on failure.
RFLOW_API std::vector<uint8_t> read_file(const std::string& path);

}  // namespace rflow::io
