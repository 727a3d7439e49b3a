// FOR TESTS ONLY: makes rflow's own file operations fail on purpose, to test retries and cleanup.
//
// Not part of the stable API. The counters are process-wide (atomics), so a test that sets them
// must clear them (ScopedFaults does) and must not run concurrently with unrelated file I/O.
#pragma once

#include <cerrno>

#include "rflow/export.hpp"

namespace rflow::io::testing {

/// Where an injected fault strikes.
enum class FaultSite {
    write,  ///< write_file_atomic: after the temp file is created, the write fails (temp removed);
            ///< TensorBoardWriter: a record's write fails half-way (the file is cut back)
    read,   ///< read_file and IDX dataset reads: opening the file fails
};

/// The next `count` operations at `site` fail as if the system call had set errno to `err`
/// (EAGAIN by default, i.e. transient). Replaces any pending faults at that site.
RFLOW_API void inject_faults(FaultSite site, int count, int err = EAGAIN);
/// Faults still pending at `site`.
RFLOW_API int pending_faults(FaultSite site);
/// Removes every pending fault.
RFLOW_API void clear_faults();

/// Clears every pending fault when it goes out of scope (also when a test fails half-way).
struct ScopedFaults {
    ScopedFaults() = default;
    ScopedFaults(FaultSite site, int count, int err = EAGAIN) { inject_faults(site, count, err); }
    ~ScopedFaults() { clear_faults(); }
    ScopedFaults(const ScopedFaults&) = delete;
    ScopedFaults& operator=(const ScopedFaults&) = delete;
};

/// Used inside the library: consumes one pending fault at `site` and returns its errno, or 0.
int take_fault(FaultSite site) noexcept;

}  // namespace rflow::io::testing
