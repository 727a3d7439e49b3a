// CUDA reductions (twin of src/cpu/reduce.cpp): sum, max and min over any set of axes.
//
// The input is viewed as [kept, reduced]: `kept` indexes the output, `reduced` runs over the axes
// being reduced, each through its own StridedIndex (so no permuted copy is made). Three schedules:
//   columns  reduced axes lead a contiguous tensor (a bias gradient): thread k sums x[r kept + k]
//            over r, so neighbouring threads read neighbouring floats;
//   threads  short reductions (<= 32 terms): one thread per output element;
//   blocks   long reductions: one block per output element, a strided partial per thread and a
//            tree in shared memory.
// Each output's terms are combined in a fixed order, so results do not vary between runs.
#include <cfloat>

#include "cuda_common.hpp"

namespace rflow::cuda {

using backend::Reduce;

namespace {

struct Combine {
    Reduce op;
    __device__ float identity() const { return op == Reduce::sum ? 0.f : (op == Reduce::max ? -INFINITY : INFINITY); }
    __device__ float operator()(float a, float b) const {
        // NaN propagates (a != a keeps a NaN accumulator; a NaN b fails both comparisons and is taken)
        return op == Reduce::sum ? a + b : (op == Reduce::max ? (a > b || a != a ? a : b) : (a < b || a != a ? a : b));
    }
};

// ---- kernels ----

/// out[k] = combine_r x[r kept + k]: reduced axes leading a contiguous tensor.
__global__ void columns_kernel(const float* x, float* out, int64_t kept, int64_t reduced, Combine f) {
    for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < kept;
         k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        float acc = f.identity();
        for (int64_t r = 0; r < reduced; ++r) acc = f(acc, x[r * kept + k]);
        out[k] = acc;
    }
}

/// out[k] = combine_r x[keep.at(k) + red.at(r)], one thread per output.
__global__ void threads_kernel(const float* x, float* out, int64_t kept, int64_t reduced, StridedIndex keep,
                               StridedIndex red, Combine f) {
    for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < kept;
         k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float* base = x + keep.at(k);
        float acc = f.identity();
        for (int64_t r = 0; r < reduced; ++r) acc = f(acc, base[red.at(r)]);
        out[k] = acc;
    }
}

/// The same with one block of kThreads threads per output: thread t combines terms t, t + T, ...,
/// then the block folds its partials pairwise in shared memory.
__global__ void blocks_kernel(const float* x, float* out, int64_t kept, int64_t reduced, StridedIndex keep,
                              StridedIndex red, Combine f) {
    __shared__ float partial[kThreads];
    for (int64_t k = blockIdx.x; k < kept; k += gridDim.x) {
        const float* base = x + keep.at(k);
        float acc = f.identity();
        for (int64_t r = threadIdx.x; r < reduced; r += blockDim.x) acc = f(acc, base[red.at(r)]);
        partial[threadIdx.x] = acc;
        __syncthreads();
        for (int w = blockDim.x / 2; w > 0; w /= 2) {
            if (static_cast<int>(threadIdx.x) < w) partial[threadIdx.x] = f(partial[threadIdx.x], partial[threadIdx.x + w]);
            __syncthreads();
        }
        if (threadIdx.x == 0) out[k] = partial[0];
        __syncthreads();  // partial[] is reused by the next output of this block
    }
}

// ---- launchers ----

void launch_columns(const float* x, float* out, int64_t kept, int64_t reduced, Combine f, cudaStream_t s) {
    columns_kernel<<<grid_for(kept), kThreads, 0, s>>>(x, out, kept, reduced, f);
    RFLOW_CUDA_LAUNCHED();
}

void launch_strided(const float* x, float* out, int64_t kept, int64_t reduced, const StridedIndex& keep,
                    const StridedIndex& red, Combine f, cudaStream_t s) {
    if (reduced <= 32) {
        threads_kernel<<<grid_for(kept), kThreads, 0, s>>>(x, out, kept, reduced, keep, red, f);
    } else {
        const unsigned grid = static_cast<unsigned>(kept < 65535 * 8 ? kept : 65535 * 8);
        blocks_kernel<<<grid, kThreads, 0, s>>>(x, out, kept, reduced, keep, red, f);
    }
    RFLOW_CUDA_LAUNCHED();
}

// Sizes and strides of the axes of x with axes[d] == want, as an indexer (size-1 axes dropped).
StridedIndex axes_index(const Tensor& x, const std::vector<bool>& axes, bool want, int64_t& count) {
    Shape sizes;
    std::vector<int64_t> strides;
    count = 1;
    for (int64_t d = 0; d < x.dim(); ++d)
        if (axes[d] == want) {
            sizes.push_back(x.size(d));
            strides.push_back(x.strides()[d]);
            count *= x.size(d);
        }
    return strided_indices(sizes, {&strides})[0];
}

}  // namespace

// ---- entry point ----

void reduce(Reduce op, const Tensor& x, const std::vector<bool>& axes, Tensor& out) {
    RFLOW_CHECK(out.is_contiguous(), "reduce output must be contiguous");
    int64_t kept = 0, reduced = 0;
    const StridedIndex keep = axes_index(x, axes, false, kept);
    const StridedIndex red = axes_index(x, axes, true, reduced);
    if (kept == 0) return;
    const Combine f{op};
    // reduced axes all before the kept ones in a contiguous tensor: x is [reduced, kept] row-major
    bool leading = x.is_contiguous() && reduced > 1;
    bool seen_kept = false;
    for (int64_t d = 0; d < x.dim() && leading; ++d) {
        if (x.size(d) == 1) continue;
        if (!axes[d]) seen_kept = true;
        else if (seen_kept) leading = false;
    }
    if (leading && kept >= 32) launch_columns(dptr(x), dptr(out), kept, reduced, f, stream());
    else launch_strided(dptr(x), dptr(out), kept, reduced, keep, red, f, stream());
}

}  // namespace rflow::cuda
