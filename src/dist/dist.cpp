// Data-parallel collectives over MPI (see rflow/dist.hpp); without MPI, one rank.
#include "rflow/dist.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <utility>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"

#ifdef RFLOW_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (OpenMPI's deprecated C++ bindings warn)
#include <mpi.h>
#endif

namespace rflow::dist {

#ifdef RFLOW_HAVE_MPI

namespace {

bool initialized() {
    int flag = 0, finalized = 0;
    MPI_Initialized(&flag);
    MPI_Finalized(&finalized);
    return flag && !finalized;
}

void finalize_at_exit() {
    if (initialized()) MPI_Finalize();
}

// Mean over the ranks of n floats in place: reduce-scatter in rank order, then all-gather.
void mean_in_place(float* data, int64_t n) {
    const int world = world_size(), me = rank();
    std::vector<int> counts(world), displs(world);
    for (int r = 0, off = 0; r < world; ++r) {
        counts[r] = static_cast<int>(n / world + (r < n % world ? 1 : 0));
        displs[r] = off;
        off += counts[r];
    }
    const int mine = counts[me];
    std::vector<float> received(static_cast<size_t>(mine) * world);
    std::vector<int> recv_counts(world, mine), recv_displs(world);
    for (int r = 0; r < world; ++r) recv_displs[r] = r * mine;
    MPI_Alltoallv(data, counts.data(), displs.data(), MPI_FLOAT, received.data(), recv_counts.data(),
                  recv_displs.data(), MPI_FLOAT, MPI_COMM_WORLD);
    std::vector<float> shard(static_cast<size_t>(mine));
    for (int i = 0; i < mine; ++i) {
        float s = received[i];  // rank 0's, then 1's, ...: the same order on every run
        for (int r = 1; r < world; ++r) s += received[static_cast<size_t>(r) * mine + i];
        shard[i] = s / static_cast<float>(world);
    }
    MPI_Allgatherv(shard.data(), mine, MPI_FLOAT, data, counts.data(), displs.data(), MPI_FLOAT, MPI_COMM_WORLD);
}

}  // namespace

bool mpi_built() { return true; }

// True when a launcher started this process as a rank: mpirun (OpenMPI), hydra (MPICH), srun (PMI
// or PMIx). A process started by hand stays out of MPI, whose singleton start costs ~0.6 s.
bool launched_as_rank() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
        if (std::getenv(v)) return true;
    return false;
}

void init(int* argc, char*** argv) {
    if (initialized() || !launched_as_rank()) return;
    MPI_Init(argc, argv);
    std::atexit(finalize_at_exit);
}

int rank() {
    if (!initialized()) return 0;
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int world_size() {
    if (!initialized()) return 1;
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

void allreduce_mean(const std::vector<Tensor>& tensors) {
    if (world_size() == 1) return;
    NoGradGuard ng;
    // flatten on the host, bucket by bucket, in the tensors' order
    std::vector<float> bucket;
    std::vector<std::pair<Tensor, Tensor>> pending;  // (destination, host copy) in this bucket
    auto flush = [&] {
        if (bucket.empty()) return;
        mean_in_place(bucket.data(), static_cast<int64_t>(bucket.size()));
        size_t off = 0;
        for (auto& [dst, host] : pending) {
            std::copy(bucket.begin() + static_cast<long>(off), bucket.begin() + static_cast<long>(off + host.numel()),
                      host.data());
            off += static_cast<size_t>(host.numel());
            dst.copy_(host.to(dst.device()));
        }
        bucket.clear();
        pending.clear();
    };
    for (const Tensor& t : tensors) {
        if (!t.defined() || t.numel() == 0) continue;
        RFLOW_CHECK(t.numel() <= kBucketFloats * 64, "allreduce_mean: a tensor of " << t.numel() << " elements");
        Tensor host = t.detach().to(Device::cpu).contiguous().clone();
        if (static_cast<int64_t>(bucket.size()) + host.numel() > kBucketFloats) flush();
        bucket.insert(bucket.end(), host.data(), host.data() + host.numel());
        pending.emplace_back(t, host);
    }
    flush();
}

double allreduce_mean(double value) {
    if (world_size() == 1) return value;
    std::vector<double> all(static_cast<size_t>(world_size()));
    MPI_Allgather(&value, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
    double s = 0;
    for (double v : all) s += v;
    return s / static_cast<double>(all.size());
}

void abort(int code) {
    if (initialized() && world_size() > 1) {
        // mpirun forwards each rank's stderr on its own time: give the message a moment to leave
        std::fflush(stderr);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        MPI_Abort(MPI_COMM_WORLD, code);
    }
    std::exit(code);
}

#else  // one rank

bool mpi_built() { return false; }
void init(int*, char***) {}
int rank() { return 0; }
int world_size() { return 1; }
void allreduce_mean(const std::vector<Tensor>&) {}
double allreduce_mean(double value) { return value; }
void abort(int code) { std::exit(code); }

#endif

std::pair<int64_t, int64_t> batch_share(int64_t batch) {
    const int world = world_size();
    RFLOW_CHECK(batch % world == 0, "a batch of " << batch << " rows does not divide among " << world
                                                   << " ranks: pick a batch size that is a multiple of the rank count");
    const int64_t per = batch / world;
    return {per * rank(), per * (rank() + 1)};
}

}  // namespace rflow::dist
