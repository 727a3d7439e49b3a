// Walks N operands of one shape with their own strides, calling an inner-loop kernel on rows.
//
// Dimensions are coalesced first (adjacent dims that are contiguous for every operand merge), so
// a contiguous tensor becomes one long row; the kernel sees (pointers, row length, inner strides).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "rflow/tensor.hpp"

namespace rflow::cpu {

template <size_t N>
struct StridedLayout {
    std::vector<int64_t> sizes;                           // coalesced, outermost first
    std::array<std::vector<int64_t>, N> strides;          // per operand
};

template <size_t N>
StridedLayout<N> coalesce(const Shape& shape, const std::array<const std::vector<int64_t>*, N>& strides) {
    StridedLayout<N> out;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;  // size-1 dims carry no stride information
        bool merge = !out.sizes.empty();
        if (merge) {
            for (size_t k = 0; k < N; ++k)
                if (out.strides[k].back() != (*strides[k])[d] * shape[d]) { merge = false; break; }
        }
        if (merge) {
            out.sizes.back() *= shape[d];
            for (size_t k = 0; k < N; ++k) out.strides[k].back() = (*strides[k])[d];
        } else {
            out.sizes.push_back(shape[d]);
            for (size_t k = 0; k < N; ++k) out.strides[k].push_back((*strides[k])[d]);
        }
    }
    if (out.sizes.empty()) {  // rank 0 or all ones: a single element
        out.sizes.push_back(1);
        for (size_t k = 0; k < N; ++k) out.strides[k].push_back(1);
    }
    return out;
}

/// kernel(std::array<float*, N> ptrs, int64_t n, std::array<int64_t, N> inner_strides)
template <size_t N, class Kernel>
void for_each_row(const Shape& shape, std::array<float*, N> base,
                  const std::array<const std::vector<int64_t>*, N>& strides, Kernel&& kernel) {
    for (int64_t s : shape)
        if (s == 0) return;
    StridedLayout<N> L = coalesce<N>(shape, strides);
    const size_t rank = L.sizes.size();
    const int64_t inner = L.sizes[rank - 1];
    std::array<int64_t, N> inner_strides;
    for (size_t k = 0; k < N; ++k) inner_strides[k] = L.strides[k][rank - 1];
    int64_t outer = 1;
    for (size_t d = 0; d + 1 < rank; ++d) outer *= L.sizes[d];
    std::vector<int64_t> idx(rank, 0);
    std::array<float*, N> p = base;
    for (int64_t o = 0; o < outer; ++o) {
        kernel(p, inner, inner_strides);
        // advance the odometer over the outer dims
        for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
            ++idx[d];
            for (size_t k = 0; k < N; ++k) p[k] += L.strides[k][d];
            if (idx[d] < L.sizes[d]) break;
            for (size_t k = 0; k < N; ++k) p[k] -= L.strides[k][d] * L.sizes[d];
            idx[d] = 0;
        }
    }
}

}  // namespace rflow::cpu
