// Data-parallel collectives over MPI (see rflow/dist.hpp); without MPI, one rank.
#include "rflow/dist.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <initializer_list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "../core/tensor_impl.hpp"
#include "rflow/autograd.hpp"
#include "rflow/device.hpp"
#include "rflow/error.hpp"
#ifdef RFLOW_HAVE_NCCL
#include "nccl_mean.hpp"
#endif

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

bool g_serialized = false;  // MPI granted MPI_THREAD_SERIALIZED: backward_mean may reduce on a thread

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
    int provided = MPI_THREAD_SINGLE;
    MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    g_serialized = provided >= MPI_THREAD_SERIALIZED;
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

namespace {

// RFLOW_NCCL=1 runs the NCCL path even on one rank, where it averages over one (a check of that
// path on a machine with one GPU: bench/gpu_check.sh).
bool nccl_forced() {
    const char* env = std::getenv("RFLOW_NCCL");
    return nccl_built() && env && std::strcmp(env, "1") == 0;
}

// RFLOW_NCCL=0 sends CUDA gradients through the host and MPI even where NCCL was built.
[[maybe_unused]] bool use_nccl(const std::vector<Tensor>& tensors) {
#ifdef RFLOW_HAVE_NCCL
    const char* env = std::getenv("RFLOW_NCCL");
    if (env && std::strcmp(env, "0") == 0) return false;
    for (const Tensor& t : tensors)
        if (t.defined()) return t.device() == Device::cuda && !cuda_emulated();
#else
    (void)tensors;
#endif
    return false;
}

}  // namespace

void allreduce_mean(const std::vector<Tensor>& tensors) {
    NoGradGuard ng;
#ifdef RFLOW_HAVE_NCCL
    if (use_nccl(tensors) && (world_size() > 1 || nccl_forced())) return detail::nccl_mean(tensors);
#endif
    if (world_size() == 1) return;
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

namespace {

// backward_mean's all-reduce on a communication thread. The buckets are laid out once, over the
// parameters in reverse order (the order backward completes them); the backward's leaf-ready
// reports (LeafGradReadyScope) copy each gradient into its bucket on the backward's thread, and a
// bucket whose gradients are all in goes to the thread, strictly in bucket order so that every
// rank runs the same collectives in the same order. Only the thread calls MPI until finish().
class OverlappedMean {
public:
    OverlappedMean(const std::vector<Tensor>& params, int64_t bucket_floats) {
        for (auto p = params.rbegin(); p != params.rend(); ++p) {
            if (!p->defined() || p->numel() == 0 || slot_of_.count(p->impl())) continue;
            if (buckets_.empty() || buckets_.back().size + p->numel() > bucket_floats) buckets_.emplace_back();
            Bucket& b = buckets_.back();
            slot_of_[p->impl()] = slots_.size();
            slots_.push_back({*p, buckets_.size() - 1, b.size});
            b.size += p->numel();
            ++b.pending;
        }
        for (Bucket& b : buckets_) b.data.assign(static_cast<size_t>(b.size), 0.f);
        worker_ = std::thread([this] { work(); });
    }
    ~OverlappedMean() {
        if (worker_.joinable()) {
            close();
            worker_.join();
        }
    }
    OverlappedMean(const OverlappedMean&) = delete;
    OverlappedMean& operator=(const OverlappedMean&) = delete;

    // On the backward's thread: the leaf's gradient is complete.
    void ready(const TensorImpl* leaf, const Tensor& grad) {
        auto it = slot_of_.find(leaf);
        if (it == slot_of_.end()) return;
        Slot& s = slots_[it->second];
        const Tensor g = grad.contiguous();
        std::memcpy(buckets_[s.bucket].data.data() + s.offset, g.data(), sizeof(float) * static_cast<size_t>(g.numel()));
        s.filled = true;
        --buckets_[s.bucket].pending;
        launch_ready();
    }

    // After the backward: the buckets still out go too (a gradient never reported counts as zero in
    // its bucket and is reduced on its own below), then the means replace the gradients.
    void finish() {
        for (Bucket& b : buckets_) b.pending = 0;
        launch_ready();
        close();
        worker_.join();
        if (error_) std::rethrow_exception(error_);
        std::vector<Tensor> unreported;
        for (const Slot& s : slots_) {
            Tensor g = s.param.grad();
            if (!g.defined()) continue;
            if (!s.filled) {
                unreported.push_back(g);
                continue;
            }
            const float* mean = buckets_[s.bucket].data.data() + s.offset;
            if (g.is_contiguous()) {
                std::memcpy(g.data(), mean, sizeof(float) * static_cast<size_t>(g.numel()));
            } else {
                g.copy_(Tensor::from_vector(std::vector<float>(mean, mean + g.numel()), g.shape()));
            }
        }
        allreduce_mean(unreported);  // the same on every rank: every rank ran the same graph
    }

private:
    struct Slot {
        Tensor param;
        size_t bucket;
        int64_t offset;
        bool filled = false;
    };
    struct Bucket {
        int64_t size = 0;
        int64_t pending = 0;
        std::vector<float> data;
    };

    void launch_ready() {
        std::lock_guard<std::mutex> lock(mutex_);
        while (next_ < buckets_.size() && buckets_[next_].pending == 0) queue_.push_back(next_++);
        wake_.notify_one();
    }
    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        wake_.notify_one();
    }
    void work() {
        try {
            for (;;) {
                size_t b = 0;
                {
                    std::unique_lock<std::mutex> lock(mutex_);
                    wake_.wait(lock, [&] { return !queue_.empty() || closed_; });
                    if (queue_.empty()) return;
                    b = queue_.front();
                    queue_.pop_front();
                }
                mean_in_place(buckets_[b].data.data(), buckets_[b].size);
            }
        } catch (...) {
            error_ = std::current_exception();
        }
    }

    std::vector<Slot> slots_;
    std::unordered_map<const TensorImpl*, size_t> slot_of_;
    std::vector<Bucket> buckets_;
    size_t next_ = 0;  // the first bucket not yet handed to the thread
    std::deque<size_t> queue_;
    bool closed_ = false;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::exception_ptr error_;
    std::thread worker_;
};

// RFLOW_BUCKET_MB (1 to 1024 MiB), else kOverlapBucketFloats.
int64_t overlap_bucket_floats() {
    const char* env = std::getenv("RFLOW_BUCKET_MB");
    if (!env) return kOverlapBucketFloats;
    const std::string problem = environment_problem();
    RFLOW_CHECK(problem.empty(), problem);
    return static_cast<int64_t>(std::strtol(env, nullptr, 10)) << 18;
}

bool can_overlap(const std::vector<Tensor>& params) {
    const char* env = std::getenv("RFLOW_ALLREDUCE");
    if (!g_serialized || (env && std::strcmp(env, "sync") == 0)) return false;
    for (const Tensor& p : params)
        if (p.defined() && (p.device() != Device::cpu || p.grad().defined())) return false;
    return true;
}

}  // namespace

bool backward_mean(const Tensor& loss, const std::vector<Tensor>& params, int64_t bucket_floats) {
    RFLOW_CHECK(bucket_floats >= 0, "backward_mean: bucket_floats must not be negative");
    if (bucket_floats == 0) bucket_floats = overlap_bucket_floats();
    if (world_size() == 1 && !nccl_forced()) {
        loss.backward();
        return false;
    }
    if (world_size() == 1 || !can_overlap(params)) {
        loss.backward();
        std::vector<Tensor> grads;
        for (const Tensor& p : params) grads.push_back(p.grad());
        allreduce_mean(grads);
        return false;
    }
    OverlappedMean sync(params, bucket_floats);
    {
        LeafGradReadyScope scope([&](const TensorImpl* leaf, const Tensor& g) { sync.ready(leaf, g); });
        loss.backward();
    }
    NoGradGuard ng;
    sync.finish();
    return true;
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
bool backward_mean(const Tensor& loss, const std::vector<Tensor>&, int64_t) {
    loss.backward();
    return false;
}
double allreduce_mean(double value) { return value; }
void abort(int code) { std::exit(code); }

#endif

std::string environment_problem() {
    auto one_of = [](const char* name, std::initializer_list<const char*> allowed) -> std::string {
        const char* v = std::getenv(name);
        if (!v) return "";
        std::string list;
        for (const char* a : allowed) {
            if (std::strcmp(v, a) == 0) return "";
            list += (list.empty() ? "" : " or ") + std::string(a);
        }
        return std::string(name) + "='" + v + "' is not " + list;
    };
    std::string problem = one_of("RFLOW_ALLREDUCE", {"sync", "overlap"});
    if (problem.empty()) problem = one_of("RFLOW_NCCL", {"0", "1"});
    if (const char* mb = std::getenv("RFLOW_BUCKET_MB"); problem.empty() && mb) {
        char* end = nullptr;
        const long v = std::strtol(mb, &end, 10);
        if (!*mb || *end != '\0' || v < 1 || v > 1024)
            problem = std::string("RFLOW_BUCKET_MB='") + mb + "' is not a whole number of MiB from 1 to 1024";
    }
    return problem;
}

bool nccl_built() {
#ifdef RFLOW_HAVE_NCCL
    return true;
#else
    return false;
#endif
}

std::pair<int64_t, int64_t> batch_share(int64_t batch) {
    const int world = world_size();
    RFLOW_CHECK(batch % world == 0, "a batch of " << batch << " rows does not divide among " << world
                                                   << " ranks: pick a batch size that is a multiple of the rank count");
    const int64_t per = batch / world;
    return {per * rank(), per * (rank() + 1)};
}

}  // namespace rflow::dist
