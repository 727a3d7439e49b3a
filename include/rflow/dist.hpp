// Data-parallel training across processes: MPI ranks (one machine or many), with NCCL moving the
// gradients of CUDA ranks in builds that found it. A build without MPI, or a process not started by
// mpirun, is one rank of one.
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
// backward_mean overlaps this with the backward pass: a communication thread reduces each bucket as
// soon as the backward has completed every gradient in it (the last layers' first), while the
// backward goes on to the first layers. The sums are the same, so the bits are too.
//
// CUDA tensors: with NCCL (built when Meson finds nccl.h and libnccl beside the CUDA toolkit; the
// ranks share NCCL's unique id through MPI) the buckets stay on the GPU and ncclAllReduce averages
// them on the backend's stream, one GPU per rank (the local rank picks the device); NCCL's sums are
// not in rank order, but its ring gives every rank the same bits (NCCL_ALGO=Ring NCCL_PROTO=Simple
// pins the order from run to run). Without NCCL, or with RFLOW_NCCL=0, CUDA gradients go through
// the host and MPI as above. RFLOW_NCCL=1 takes the NCCL path even on one rank (a mean over one:
// the check of that path on a machine with a single GPU).#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/tensor.hpp"

namespace rflow::dist {

/// Floats per all-reduce bucket (16 MiB).
constexpr int64_t kBucketFloats = int64_t{1} << 22;
/// Floats per bucket of backward_mean (1 MiB, as PyTorch DDP's first bucket): small enough that the
/// last layers' gradients leave while the backward still runs, large enough that latency is small.
constexpr int64_t kOverlapBucketFloats = int64_t{1} << 18;

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
/// loss.backward() followed by allreduce_mean of the parameters' gradients, with the all-reduce
/// overlapping the backward (see above): the same bits as doing the two in turn. Every parameter's
/// gradient must be empty before (Optimizer::zero_grad()). The overlap needs CPU parameters and an
/// MPI that grants MPI_THREAD_SERIALIZED; otherwise, or with RFLOW_ALLREDUCE=sync in the
/// environment, the two run in turn. On one rank: loss.backward(). Returns whether they overlapped.
/// bucket_floats 0: kOverlapBucketFloats, or RFLOW_BUCKET_MB MiB where the environment sets it
/// (fewer, larger buckets pay fewer latencies: the better choice on slow links with many ranks).
RFLOW_API bool backward_mean(const Tensor& loss, const std::vector<Tensor>& params, int64_t bucket_floats = 0);
/// What is wrong with this process's RFLOW_ALLREDUCE (sync | overlap), RFLOW_BUCKET_MB (1-1024) or
/// RFLOW_NCCL (0 | 1) environment variables, naming the variable; empty when nothing is.
RFLOW_API std::string environment_problem();
/// True when this library was built with NCCL (CUDA gradients stay on the GPU across ranks).
RFLOW_API bool nccl_built();
/// The mean of a number over the ranks, in rank order.
RFLOW_API double allreduce_mean(double value);
/// Ends every rank's process with `code` (after an error on one rank, the others would wait
/// forever in the next collective).
[[noreturn]] RFLOW_API void abort(int code);

/// Rows [begin, end) of a global batch of `batch` rows that this rank trains on. Error unless the
/// batch divides evenly by the number of ranks.
RFLOW_API std::pair<int64_t, int64_t> batch_share(int64_t batch);

}  // namespace rflow::dist
