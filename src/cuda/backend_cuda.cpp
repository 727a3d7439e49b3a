// The CUDA backend table, the device context (one stream, one cuBLAS handle), the run-time GPU
// query, and the strided-indexing helpers shared by the kernels in src/cuda/*.cu.
#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "cuda_common.hpp"

namespace rflow::cuda {

// Entries defined in the .cu twins of src/cpu/*.cpp.
#include "../backend_entries.inc"

namespace {

bool probe_device() {
    int n = 0;
    // Without a GPU (or driver) this fails with e.g. "driver insufficient": that means "no device".
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    return n > 0;
}

// The GPU of this process: its local rank under a launcher (mpirun, srun, torchrun-style LOCAL_RANK)
// modulo the GPUs it sees, so data-parallel ranks on one machine take one GPU each; 0 otherwise.
int device_for_this_process(int count) {
    for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"})
        if (const char* s = std::getenv(v)) {
            const int local = std::atoi(s);
            return local >= 0 ? local % count : 0;
        }
    return 0;
}

void to_host(const float* dev, float* host, int64_t n) {
    if (n <= 0) return;
    RFLOW_CUDA_CHECK(cudaMemcpyAsync(host, dev, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost,
                                     stream()));
    RFLOW_CUDA_CHECK(cudaStreamSynchronize(stream()));  // the host reads it next
}

void from_host(const float* host, float* dev, int64_t n) {
    if (n <= 0) return;
    // From pageable memory the call returns once `host` is staged, so the caller may free it.
    RFLOW_CUDA_CHECK(cudaMemcpyAsync(dev, host, static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice,
                                     stream()));
}

}  // namespace

Context& context() {
    static std::once_flag once;
    static Context* ctx = nullptr;
    std::call_once(once, [] {
        if (!probe_device()) return;
        auto* c = new Context();  // never destroyed: the driver tears itself down at exit
        int count = 0;
        RFLOW_CUDA_CHECK(cudaGetDeviceCount(&count));
        c->device = device_for_this_process(count);
        RFLOW_CUDA_CHECK(cudaSetDevice(c->device));
        RFLOW_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
        RFLOW_CUBLAS_CHECK(cublasCreate(&c->blas));
        RFLOW_CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
        ctx = c;
    });
    RFLOW_CHECK(ctx, "no CUDA GPU answers on this machine (rflow::cuda_available() is false); use Device::cpu "
                     "or --device cpu");
    thread_local int bound = -1;  // the current device is per thread: bind each thread that calls in
    if (bound != ctx->device) {
        RFLOW_CUDA_CHECK(cudaSetDevice(ctx->device));
        bound = ctx->device;
    }
    return *ctx;
}

cublasHandle_t blas() {
    cublasHandle_t h = context().blas;
    RFLOW_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    return h;
}

Tensor contiguous_on_device(const Tensor& t, const char* what) {
    RFLOW_CHECK(t.device() == Device::cuda, what << ": expected a CUDA tensor, got a " << device_name(t.device())
                                                 << " one");
    if (t.is_contiguous()) return t;
    Tensor out = make_tensor(t.shape(), Device::cuda);
    copy(t, out);
    return out;
}

std::vector<StridedIndex> strided_indices(const Shape& shape, const std::vector<const std::vector<int64_t>*>& strides) {
    const size_t n = strides.size();
    if (shape_numel(shape) == 0) return std::vector<StridedIndex>(n);  // nothing to index
    std::vector<int64_t> sizes;
    std::vector<std::vector<int64_t>> st(n);
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;  // size-1 dims carry no stride information
        bool merge = !sizes.empty();
        for (size_t k = 0; k < n && merge; ++k)
            if (st[k].back() != (*strides[k])[d] * shape[d]) merge = false;
        if (merge) {
            sizes.back() *= shape[d];
            for (size_t k = 0; k < n; ++k) st[k].back() = (*strides[k])[d];
        } else {
            sizes.push_back(shape[d]);
            for (size_t k = 0; k < n; ++k) st[k].push_back((*strides[k])[d]);
        }
    }
    RFLOW_CHECK(sizes.size() <= static_cast<size_t>(kMaxDims),
                "CUDA backend: a view of shape " << shape_str(shape) << " needs " << sizes.size()
                                                 << " strided dimensions (at most " << kMaxDims
                                                 << "); call contiguous() first");
    std::vector<StridedIndex> out(n);
    for (size_t k = 0; k < n; ++k) {
        out[k].rank = static_cast<int>(sizes.size());
        for (size_t d = 0; d < sizes.size(); ++d) {
            out[k].sizes[d] = sizes[d];
            out[k].strides[d] = st[k][d];
        }
    }
    return out;
}

}  // namespace rflow::cuda

namespace rflow {

const char* cuda_build_arch() { return RFLOW_GPU_ARCH; }

}  // namespace rflow

namespace rflow::backend {

bool cuda_device_present() {
    static const bool present = cuda::probe_device();
    return present;
}

void cuda_synchronize() { RFLOW_CUDA_CHECK(cudaStreamSynchronize(cuda::stream())); }

const Backend& cuda() {
    static const Backend table{
        cuda::alloc,   cuda::release, cuda::copy,   cuda::to_host, cuda::from_host, cuda::fill,
        cuda::uniform, cuda::normal,  cuda::unary,  cuda::binary,  cuda::where,     cuda::reduce,
        cuda::gemm,    cuda::softmax, cuda::layer_norm, cuda::index_select, cuda::index_add,
        cuda::conv2d,  cuda::conv2d_input, cuda::conv2d_weight, cuda::group_norm, cuda::group_norm_backward,
        nullptr, nullptr,  // no fused group_norm_silu kernel yet: the op composes group_norm and silu
        cuda::upsample_nearest2d, cuda::sum_pool2d, cuda::attention, cuda::attention_backward,
    };
    return table;
}

}  // namespace rflow::backend
