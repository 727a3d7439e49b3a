// Walks N operands of one shape with their own strides, calling an inner-loop kernel on rows.
//
// Dimensions are coalesced first (adjacent dims that are contiguous for every operand merge), so
// a contiguous tensor becomes one long row; the kernel sees (pointers, row length, inner strides).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "parallel.hpp"
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

/// kernel(std::array<float*, N> ptrs, int64_t n, std::array<int64_t, N> inner_strides).
/// Large jobs are split across threads: by rows when there are many, else within the row.
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
    if (outer == 1) {  // one long row: split it
        parallel_for(inner, kElementwiseGrain, [&](int64_t b, int64_t e) {
            std::array<float*, N> p = base;
            for (size_t k = 0; k < N; ++k) p[k] += b * inner_strides[k];
            kernel(p, e - b, inner_strides);
        });
        return;
    }
    const int64_t row_grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1));
    parallel_for(outer, row_grain, [&](int64_t begin, int64_t end) {
        // position the odometer at row `begin`
        std::vector<int64_t> idx(rank, 0);
        std::array<float*, N> p = base;
        int64_t rem = begin;
        for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
            idx[d] = rem % L.sizes[d];
            rem /= L.sizes[d];
            for (size_t k = 0; k < N; ++k) p[k] += idx[d] * L.strides[k][d];
        }
        for (int64_t o = begin; o < end; ++o) {
            kernel(p, inner, inner_strides);
            for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
                ++idx[d];
                for (size_t k = 0; k < N; ++k) p[k] += L.strides[k][d];
                if (idx[d] < L.sizes[d]) break;
                for (size_t k = 0; k < N; ++k) p[k] -= L.strides[k][d] * L.sizes[d];
                idx[d] = 0;
            }
        }
    });
}

}  // namespace rflow::cpu
