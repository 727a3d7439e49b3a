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
/// error names the path and the errno text on failure. Only regular files are read: a directory,
/// FIFO, socket or device (/dev/zero) is refused at once, as is a file over 8 GiB.
RFLOW_API std::vector<uint8_t> read_file(const std::string& path);

/// Removes the temporary files that write_file_atomic left in `dir` when its process was killed
/// (kill -9, power loss): regular files named `<name>.tmp.<pid>.<n>` whose pid is no live process.
/// Nothing else is touched; files of live processes (this one included) stay. Errors while
/// listing or removing are ignored. Returns the number of files removed.
RFLOW_API int remove_orphaned_temp_files(const std::string& dir);

}  // namespace rflow::io
