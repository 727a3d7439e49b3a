// Dropout layer with its own reproducible Philox generator.
#include "rflow/nn/dropout.hpp"

#include "rflow/error.hpp"

namespace rflow::nn {

Dropout::Dropout(float p, uint64_t seed, uint64_t stream) : p_(p), gen_(seed, stream) {
    RFLOW_CHECK(p >= 0.f && p <= 1.f, "Dropout: p must lie in [0, 1], got " << p);
}

}  // namespace rflow::nn
