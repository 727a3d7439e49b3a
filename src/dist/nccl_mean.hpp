// NCCL averaging of CUDA tensors across the MPI ranks (internal; src/dist/nccl.cpp, built only with
// RFLOW_HAVE_NCCL, i.e. with the CUDA backend, MPI and NCCL).
#pragma once

#include <vector>

#include "rflow/tensor.hpp"

namespace rflow::dist::detail {

/// Replaces each CUDA tensor by its mean over the ranks: flattened into device buckets of at most
/// kBucketFloats, ncclAllReduce(ncclAvg) on the backend's stream, copied back. The communicator is
/// made on first use (rank 0's ncclUniqueId broadcast over MPI) and kept for the process.
void nccl_mean(const std::vector<Tensor>& tensors);

}  // namespace rflow::dist::detail
