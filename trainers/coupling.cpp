// Couplings for flow-matching training pairs (independent, minibatch OT, stored pairs).
#include "rflow/trainers/coupling.hpp"

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"
#include "rflow/ot.hpp"

namespace rflow::trainers {

PairSource independent_coupling(DataSource data) {
    return [data = std::move(data)](int64_t n, Generator& gen) {
        Tensor x1 = data(n, gen);
        Tensor x0 = Tensor::normal(x1.shape(), gen);
        return TrainingBatch{x0, x1, {}};
    };
}

PairSource labeled_coupling(LabeledDataSource data) {
    return [data = std::move(data)](int64_t n, Generator& gen) {
        auto [x1, labels] = data(n, gen);
        Tensor x0 = Tensor::normal(x1.shape(), gen);
        return TrainingBatch{x0, x1, std::move(labels)};
    };
}

PairSource ot_coupling(DataSource data) {
    return [data = std::move(data)](int64_t n, Generator& gen) {
        NoGradGuard ng;
        Tensor x1 = data(n, gen);
        Tensor x0 = Tensor::normal(x1.shape(), gen);
        const std::vector<int64_t> perm = ot_pairing(x0.reshape({n, -1}), x1.reshape({n, -1}));
        return TrainingBatch{x0, index_select(x1, 0, perm), {}};
    };
}

PairSource make_coupling(const std::string& name, DataSource data) {
    if (name == "independent") return independent_coupling(std::move(data));
    if (name == "ot") return ot_coupling(std::move(data));
    RFLOW_FAIL("unknown coupling '" << name << "' (known: independent, ot)");
}

std::vector<std::string> coupling_names() { return {"independent", "ot"}; }

PairSource stored_pairs(Tensor z0, Tensor z1) {
    RFLOW_CHECK(z0.defined() && z1.defined() && z0.shape() == z1.shape() && z0.dim() >= 1 && z0.size(0) > 0,
                "stored pairs need z0 and z1 of one shape [N, ...] with N > 0");
    return [z0 = z0.detach(), z1 = z1.detach()](int64_t n, Generator& gen) {
        std::vector<int64_t> idx(n);
        gen.randint(idx.data(), n, 0, z0.size(0));
        NoGradGuard ng;
        return TrainingBatch{index_select(z0, 0, idx), index_select(z1, 0, idx), {}};
    };
}

}  // namespace rflow::trainers
