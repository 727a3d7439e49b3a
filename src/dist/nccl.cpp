// CUDA gradients averaged across ranks by NCCL (see nccl_mean.hpp and rflow/dist.hpp).
//
// One communicator per process, over MPI_COMM_WORLD's ranks, each rank on the GPU the CUDA backend
// chose for it (its local rank modulo the GPUs it sees). The buckets are device tensors made by the
// backend's own ops (concat of flattened views), so only the all-reduce itself touches raw pointers;
// it runs on the backend's stream, ordered after the backward's kernels and before the optimizer's.
#include <cstdio>
#include <mutex>

#define OMPI_SKIP_MPICXX 1
#include <mpi.h>
#include <nccl.h>

#include "../cuda/cuda_common.hpp"
#include "nccl_mean.hpp"
#include "rflow/autograd.hpp"
#include "rflow/dist.hpp"
#include "rflow/ops.hpp"

#define RFLOW_NCCL_CHECK(expr)                                                                    \
    do {                                                                                          \
        const ncclResult_t rflow_nccl_st_ = (expr);                                               \
        RFLOW_CHECK(rflow_nccl_st_ == ncclSuccess,                                                \
                    "NCCL error in " #expr ": " << ncclGetErrorString(rflow_nccl_st_)             \
                                                << " (RFLOW_NCCL=0 sends the gradients through MPI)"); \
    } while (0)

namespace rflow::dist::detail {

namespace {

ncclComm_t communicator() {
    static std::once_flag once;
    static ncclComm_t comm = nullptr;
    std::call_once(once, [] {
        cuda::context();  // pick this rank's GPU before NCCL binds to the current device
        ncclUniqueId id{};
        if (rank() == 0) RFLOW_NCCL_CHECK(ncclGetUniqueId(&id));
        if (world_size() > 1) MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
        RFLOW_NCCL_CHECK(ncclCommInitRank(&comm, world_size(), id, rank()));
    });
    return comm;
}

void mean_bucket(const std::vector<Tensor>& part) {
    std::vector<Tensor> flat;
    for (const Tensor& t : part) flat.push_back(t.reshape({t.numel()}));
    Tensor bucket = concat(flat, 0);  // a fresh contiguous device tensor
    RFLOW_NCCL_CHECK(ncclAllReduce(bucket.impl()->data(), bucket.impl()->data(), static_cast<size_t>(bucket.numel()),
                                   ncclFloat, ncclAvg, communicator(), cuda::stream()));
    int64_t off = 0;
    for (const Tensor& t : part) {
        Tensor dst = t;
        dst.copy_(bucket.slice(0, off, off + t.numel()).reshape(t.shape()));
        off += t.numel();
    }
}

}  // namespace

void nccl_mean(const std::vector<Tensor>& tensors) {
    NoGradGuard ng;
    std::vector<Tensor> part;
    int64_t floats = 0;
    for (const Tensor& t : tensors) {
        if (!t.defined() || t.numel() == 0) continue;
        RFLOW_CHECK(t.device() == Device::cuda, "nccl_mean: a " << device_name(t.device()) << " tensor among CUDA ones");
        if (!part.empty() && floats + t.numel() > kBucketFloats) {
            mean_bucket(part);
            part.clear();
            floats = 0;
        }
        part.push_back(t);
        floats += t.numel();
    }
    if (!part.empty()) mean_bucket(part);
}

}  // namespace rflow::dist::detail
