// Data-parallel training across processes: MPI ranks on CPUs (one machine or many; NCCL is not
// wired yet). A build without MPI, or a process not started by mpirun, is one rank of one.
//
// Each rank draws the whole global batch from the same seeded streams and trains on its own
// contiguous share of the rows, so N ranks see exactly the batch one process would; gradients
// are averaged across ranks after backward with a reduction whose order is fixed (the sum of
// each element runs over the ranks in rank order), so every rank holds bit-identical gradients and
// weights, and repeated runs are bit-identical too. The average of N shares' mean losses equals
// the global batch's mean up to float rounding (the batch must divide evenly).
//
// All-reduce: the gradients are flattened into buckets of at most kBucketFloats; each bucket is
// reduce-scattered (MPI_Alltoallv: rank r receives every rank's copy of shard r and sums them in
// rank order) and all-gathered (MPI_Allgatherv): 2 (N - 1) / N of the bucket's bytes sent per
// rank, as a ring all-reduce, and deterministic, which MPI_Allreduce does not promise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::dist {

/// Floats per all-reduce bucket (16 MiB).
constexpr int64_t kBucketFloats = int64_t{1} << 22;

/// True when this library was built with MPI (meson found it at configure time).
RFLOW_API bool mpi_built();
/// Initialises MPI when built with it and a launcher (mpirun, srun) started this process; a process
/// started by hand stays rank 0 of 1 without touching MPI. Idempotent; MPI is finalised at exit.
/// Call first in main.
RFLOW_API void init(int* argc, char*** argv);
RFLOW_API int rank();
RFLOW_API int world_size();
inline bool is_root() { return rank() == 0; }

/// Replaces each tensor by its mean over the ranks (see above); a no-op on one rank.
RFLOW_API void allreduce_mean(const std::vector<Tensor>& tensors);
/// The mean of a number over the ranks, in rank order.
RFLOW_API double allreduce_mean(double value);
/// Ends every rank's process with `code` (after an error on one rank, the others would wait
/// forever in the next collective).
[[noreturn]] RFLOW_API void abort(int code);

/// Rows [begin, end) of a global batch of `batch` rows that this rank trains on. Error unless the
/// batch divides evenly by the number of ranks.
RFLOW_API std::pair<int64_t, int64_t> batch_share(int64_t batch);

}  // namespace rflow::dist
