// The CPU backend table: aligned host memory plus the entries in src/cpu/*.cpp.
#include <cstdlib>
#include <cstring>
#include <new>

#include "../backend.hpp"
#include "rflow/error.hpp"

namespace rflow::cpu {

void copy(const Tensor& src, Tensor& dst);
void fill(Tensor& out, float value);
void uniform(Tensor& out, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi);
void normal(Tensor& out, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std);
void unary(backend::Unary op, const Tensor& x, Tensor& out, float a, float b);
void binary(backend::Binary op, const Tensor& a, const Tensor& b, Tensor& out);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out);
void reduce(backend::Reduce op, const Tensor& x, const std::vector<bool>& axes, Tensor& out);
void gemm(const Tensor& a, const Tensor& b, Tensor& out, float alpha, float beta);
void softmax(const Tensor& x, Tensor& out, bool log);
void layer_norm(const Tensor& x, Tensor& out, float eps);
void index_select(const Tensor& x, int64_t dim, const std::vector<int64_t>& index, Tensor& out);
void index_add(Tensor& out, int64_t dim, const std::vector<int64_t>& index, const Tensor& src);

namespace {

float* alloc(int64_t numel) {
    // 64-byte alignment for AVX-512 loads; at least one element so empty tensors own a pointer.
    size_t bytes = (static_cast<size_t>(std::max<int64_t>(numel, 1)) * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    RFLOW_CHECK(p, "out of host memory allocating " << bytes << " bytes");
    return static_cast<float*>(p);
}

void release(float* p) { std::free(p); }

void host_copy(const float* src, float* dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }

}  // namespace

}  // namespace rflow::cpu

namespace rflow::backend {

const Backend& cpu() {
    static const Backend table{
        cpu::alloc,   cpu::release, cpu::copy,   cpu::host_copy, cpu::host_copy, cpu::fill,
        cpu::uniform, cpu::normal,  cpu::unary,  cpu::binary,    cpu::where,     cpu::reduce,
        cpu::gemm,    cpu::softmax, cpu::layer_norm, cpu::index_select, cpu::index_add,
    };
    return table;
}

const Backend& get(Device d) { return d == Device::cpu ? cpu() : cuda(); }

}  // namespace rflow::backend
