// The retry policy rflow applies to its own file reads and writes (checkpoints, weights, samples,
// plots, CSV, datasets): transient errors (EINTR, EAGAIN, EBUSY, ETXTBSY) are retried from scratch.
#pragma once

#include <functional>

#include "rflow/export.hpp"
#include "rflow/retry.hpp"

namespace rflow::io {

/// The policy used for rflow's file operations. Default: 5 tries, 50 ms delay doubling up to
/// 1 s (at most 0.75 s of waiting), transient I/O errors only, no logging.
RFLOW_API RetryPolicy file_retry_policy();

/// Replaces the process-wide file retry policy (thread-safe; takes effect for operations that
/// start afterwards). E.g. `tries(1)` switches retries off; a custom `sleeper` or `on_failure`
/// hooks waiting and logging. Throws rflow::Error for an invalid policy.
RFLOW_API void set_file_retry_policy(RetryPolicy policy);

/// The default file retry policy described above.
RFLOW_API RetryPolicy default_file_retry_policy();

/// Runs `op` under file_retry_policy(). `op` must be restartable from scratch (each attempt opens
/// the file anew). After the last failure the last error is rethrown, its message extended with
/// the number of attempts when there was more than one; other errors propagate at once.
RFLOW_API void with_file_retries(const std::function<void()>& op);

}  // namespace rflow::io
