// CUDA element-wise entries (twin of src/cpu/elementwise.cpp): copy, fill, Philox random fills,
// unary functions, broadcast binary ops and where.
//
// One grid-stride kernel maps N operands of one shape: operand 0 is written, 1..N-1 are read. When
// every operand is contiguous it indexes them directly; otherwise each operand's StridedIndex turns
// the element number into a storage offset (broadcast operands have stride 0). The per-element math
// is src/common/elementwise_math.hpp, the same formulas the CPU tests check against Eigen's.
#include <array>

#include "../common/elementwise_math.hpp"
#include "../common/philox_math.hpp"
#include "cuda_common.hpp"

namespace rflow::cuda {

using backend::Binary;
using backend::Unary;

namespace {

template <int N>
struct Views {
    float* p[N];
    StridedIndex ix[N];
    bool contiguous;
};

// ---- kernels ----

/// out[i] = f(in_1[i], ..., in_{N-1}[i]) for every element i of a shape with n elements.
template <int N, class F>
__global__ void map_kernel(Views<N> v, int64_t n, F f) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        float in[N > 1 ? N - 1 : 1];
        for (int k = 1; k < N; ++k) in[k - 1] = v.contiguous ? v.p[k][i] : v.p[k][v.ix[k].at(i)];
        v.p[0][v.contiguous ? i : v.ix[0].at(i)] = f(in);
    }
}

struct FillF {
    float value;
    __device__ float operator()(const float*) const { return value; }
};
struct CopyF {
    __device__ float operator()(const float* in) const { return in[0]; }
};
struct UnaryF {
    Unary op;
    float a, b;
    __device__ float operator()(const float* in) const { return detail::unary_math(op, in[0], a, b); }
};
struct BinaryF {
    Binary op;
    __device__ float operator()(const float* in) const { return detail::binary_math(op, in[0], in[1]); }
};
struct WhereF {
    __device__ float operator()(const float* in) const { return in[0] != 0.f ? in[1] : in[2]; }
};

/// Uniform fill: thread t writes elements i = 4t' .. 4t'+3 of the ones sharing Philox block
/// (offset + i) / 4, computing that block once; out[i] = lo + (hi - lo) u(offset + i).
__global__ void uniform_kernel(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset, float lo,
                               float hi) {
    // block index relative to the first block touched; first element of block b is 4 (first + b)
    const uint64_t first = offset >> 2;
    const int64_t blocks = static_cast<int64_t>(((offset + n + 3) >> 2) - first);
    for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < blocks;
         b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const detail::PhiloxU32x4 w = detail::philox_block(seed, stream, first + b);
        for (int lane = 0; lane < 4; ++lane) {
            const int64_t i = static_cast<int64_t>(4 * (first + b) + lane - offset);
            if (i >= 0 && i < n) out[i] = lo + (hi - lo) * detail::philox_u01(w.v[lane]);
        }
    }
}

/// Normal fill: Philox block j / 2 holds normals 2 (j / 2) and 2 (j / 2) + 1 (Box-Muller on lane
/// pairs (0, 1) and (2, 3)); out[i] = mean + std z(offset + i).
__global__ void normal_kernel(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset, float mean,
                              float std) {
    const uint64_t first = offset >> 1;
    const int64_t blocks = static_cast<int64_t>(((offset + n + 1) >> 1) - first);
    for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < blocks;
         b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const detail::PhiloxU32x4 w = detail::philox_block(seed, stream, first + b);
        for (int pair = 0; pair < 2; ++pair) {
            const int64_t i = static_cast<int64_t>(2 * (first + b) + pair - offset);
            if (i >= 0 && i < n) out[i] = mean + std * detail::philox_box_muller(w.v[2 * pair], w.v[2 * pair + 1]);
        }
    }
}

// ---- launchers ----

template <int N, class F>
void launch_map(const Views<N>& v, int64_t n, F f, cudaStream_t s) {
    if (n == 0) return;
    map_kernel<N, F><<<grid_for(n), kThreads, 0, s>>>(v, n, f);
    RFLOW_CUDA_LAUNCHED();
}

void launch_uniform(float* out, int64_t n, uint64_t seed, uint64_t st, uint64_t offset, float lo, float hi,
                    cudaStream_t s) {
    if (n == 0) return;
    uniform_kernel<<<grid_for((n + 7) / 4), kThreads, 0, s>>>(out, n, seed, st, offset, lo, hi);
    RFLOW_CUDA_LAUNCHED();
}

void launch_normal(float* out, int64_t n, uint64_t seed, uint64_t st, uint64_t offset, float mean, float std,
                   cudaStream_t s) {
    if (n == 0) return;
    normal_kernel<<<grid_for((n + 3) / 2), kThreads, 0, s>>>(out, n, seed, st, offset, mean, std);
    RFLOW_CUDA_LAUNCHED();
}

/// Views of operands sharing `shape` (operand 0 is the output).
template <int N>
Views<N> views_of(const Shape& shape, const std::array<const Tensor*, N>& t) {
    Views<N> v{};
    std::vector<const std::vector<int64_t>*> strides;
    v.contiguous = true;
    for (int k = 0; k < N; ++k) {
        RFLOW_CHECK(t[k]->device() == Device::cuda, "CUDA element-wise op given a " << device_name(t[k]->device())
                                                                                  << " tensor");
        v.p[k] = dptr(*t[k]);
        strides.push_back(&t[k]->strides());
        v.contiguous = v.contiguous && t[k]->shape() == shape && t[k]->is_contiguous();
    }
    if (!v.contiguous) {
        const std::vector<StridedIndex> ix = strided_indices(shape, strides);
        for (int k = 0; k < N; ++k) v.ix[k] = ix[k];
    }
    return v;
}

}  // namespace

// ---- entry points ----

void copy(const Tensor& src, Tensor& dst) {
    RFLOW_CHECK(src.shape() == dst.shape(), "copy between shapes " << shape_str(src.shape()) << " and "
                                                                    << shape_str(dst.shape()));
    if (dst.dim() > kMaxDims && dst.numel() > 0) {
        // More dims than a StridedIndex holds (contiguous() of such a view lands here too): copy
        // the slices along the outermost dim, each one dim lower.
        const Shape s(dst.shape().begin() + 1, dst.shape().end());
        const std::vector<int64_t> ss(src.strides().begin() + 1, src.strides().end());
        const std::vector<int64_t> ds(dst.strides().begin() + 1, dst.strides().end());
        for (int64_t i = 0; i < dst.size(0); ++i) {
            Tensor d = make_view(dst, s, ds, dst.offset() + i * dst.strides()[0]);
            copy(make_view(src, s, ss, src.offset() + i * src.strides()[0]), d);
        }
        return;
    }
    if (src.is_contiguous() && dst.is_contiguous()) {
        if (dst.numel())
            RFLOW_CUDA_CHECK(cudaMemcpyAsync(dptr(dst), dptr(src), dst.numel() * sizeof(float),
                                             cudaMemcpyDeviceToDevice, stream()));
        return;
    }
    launch_map<2>(views_of<2>(dst.shape(), {&dst, &src}), dst.numel(), CopyF{}, stream());
}

void fill(Tensor& out, float value) {
    launch_map<1>(views_of<1>(out.shape(), {&out}), out.numel(), FillF{value}, stream());
}

void uniform(Tensor& out, uint64_t seed, uint64_t st, uint64_t offset, float lo, float hi) {
    RFLOW_CHECK(out.is_contiguous(), "random fill needs a contiguous tensor");
    launch_uniform(dptr(out), out.numel(), seed, st, offset, lo, hi, stream());
}

void normal(Tensor& out, uint64_t seed, uint64_t st, uint64_t offset, float mean, float std) {
    RFLOW_CHECK(out.is_contiguous(), "random fill needs a contiguous tensor");
    launch_normal(dptr(out), out.numel(), seed, st, offset, mean, std, stream());
}

void unary(Unary op, const Tensor& x, Tensor& out, float a, float b) {
    RFLOW_CHECK(out.is_contiguous(), "unary output must be contiguous");
    launch_map<2>(views_of<2>(out.shape(), {&out, &x}), out.numel(), UnaryF{op, a, b}, stream());
}

void binary(Binary op, const Tensor& a, const Tensor& b, Tensor& out) {
    launch_map<3>(views_of<3>(out.shape(), {&out, &a, &b}), out.numel(), BinaryF{op}, stream());
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
    launch_map<4>(views_of<4>(out.shape(), {&out, &cond, &a, &b}), out.numel(), WhereF{}, stream());
}

}  // namespace rflow::cuda
