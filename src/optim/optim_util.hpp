// Private helpers of the optimizers: Eigen maps over raw float arrays, blocked fused loops, and
// the named-tensor lookups used by state() / load_state().
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "rflow/error.hpp"
#include "rflow/optim/optimizer.hpp"
#include "rflow/tensor.hpp"

namespace rflow::optim::detail {

using ArrMap = Eigen::Map<Eigen::ArrayXf>;
using CArrMap = Eigen::Map<const Eigen::ArrayXf>;

/// Calls f(begin, len) over [0, n) in blocks small enough that the several arrays a fused update
/// touches stay in L1 between its statements: one pass over memory per parameter.
template <class F>
inline void for_blocks(int64_t n, F&& f) {
    constexpr int64_t kBlock = 1024;
    for (int64_t i = 0; i < n; i += kBlock) f(i, std::min(kBlock, n - i));
}

/// Step counts travel as 1-element float32 tensors: exact up to 2^24.
constexpr int64_t kMaxExactStep = int64_t(1) << 24;

inline Tensor count_tensor(int64_t count, const std::string& key) {
    RFLOW_CHECK(count >= 0 && count <= kMaxExactStep,
                "state key '" << key << "': count " << count
                              << " is beyond 2^24, not exact in a float32 tensor");
    return Tensor::full({1}, static_cast<float>(count));
}

/// Key -> tensor, rejecting duplicate keys.
inline std::unordered_map<std::string, Tensor> index_state(const NamedTensors& state) {
    std::unordered_map<std::string, Tensor> map;
    map.reserve(state.size());
    for (const auto& [k, t] : state) {
        RFLOW_CHECK(map.emplace(k, t).second, "load_state: duplicate key '" << k << "'");
    }
    return map;
}

/// The tensor under `key`, checked to be defined and of `shape`.
inline const Tensor& find_state(const std::unordered_map<std::string, Tensor>& map,
                                const std::string& key, const Shape& shape) {
    auto it = map.find(key);
    RFLOW_CHECK(it != map.end(), "load_state: missing key '" << key
                                     << "' (state saved from another optimizer or model?)");
    RFLOW_CHECK(it->second.defined(), "load_state: key '" << key << "' holds an undefined tensor");
    RFLOW_CHECK(it->second.shape() == shape, "load_state: key '" << key << "' has shape "
                                                 << shape_str(it->second.shape()) << ", expected "
                                                 << shape_str(shape));
    return it->second;
}

/// A count stored by count_tensor(), checked to be a non-negative integer.
inline int64_t find_count(const std::unordered_map<std::string, Tensor>& map,
                          const std::string& key) {
    const float v = find_state(map, key, {1}).to(Device::cpu).item();
    RFLOW_CHECK(v >= 0.f && v <= static_cast<float>(kMaxExactStep) && v == static_cast<float>(
                    static_cast<int64_t>(v)),
                "load_state: key '" << key << "' = " << v << " is not a valid step count");
    return static_cast<int64_t>(v);
}

}  // namespace rflow::optim::detail
