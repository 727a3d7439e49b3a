// Run under mpirun by tests/mpi_test.sh: dist::backward_mean (all-reduce overlapping the backward,
// in small buckets so that many go while the backward runs) must give bit for bit the gradients of
// loss.backward() followed by dist::allreduce_mean, and those must be the mean of every rank's own
// gradient (checked against a sum of all ranks' gradients that each rank recomputes from their
// seeds). Covers a weight used twice, a parameter with no gradient and buckets of every size.
// Prints one line per check; exits 1 on any failure.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "rflow/autograd.hpp"
#include "rflow/device.hpp"
#include "rflow/dist.hpp"
#include "rflow/nn/mlp.hpp"
#include "rflow/ops.hpp"

using namespace rflow;

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    if (dist::is_root()) std::printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    failures += ok ? 0 : 1;
}

struct Net {
    Generator gen{7, 0};
    nn::MLP mlp{4, {16, 16}, 4, gen};
    Tensor shared = Tensor::normal({4, 4}, gen).requires_grad_();  // used at both ends
    Tensor unused = Tensor::normal({3}, gen).requires_grad_();     // never reached by the loss
    std::vector<Tensor> params() {
        std::vector<Tensor> p = mlp.parameters();
        p.push_back(shared);
        p.push_back(unused);
        return p;
    }
    // the loss on the rows of rank r (each rank's data differs)
    Tensor loss(int r) {
        Generator data(100 + static_cast<uint64_t>(r), 1);
        const Tensor x = Tensor::normal({8, 4}, data);
        return mean(square(matmul(mlp.forward(matmul(x, shared)), shared)));
    }
    void zero_grad() {
        for (Tensor& p : params()) p.zero_grad();
    }
};

std::vector<std::vector<float>> grads_of(Net& net) {
    std::vector<std::vector<float>> g;
    for (const Tensor& p : net.params()) g.push_back(p.grad().defined() ? p.grad().to_vector() : std::vector<float>{});
    return g;
}

}  // namespace

int main(int argc, char** argv) {
    dist::init(&argc, &argv);
    set_num_threads(1);  // each rank recomputes the others' gradients: the same kernels, the same bits
    const int world = dist::world_size(), me = dist::rank();
    Net net;

    // reference: every rank's gradient recomputed here, summed in rank order, divided
    std::vector<std::vector<float>> expected;
    for (int r = 0; r < world; ++r) {
        net.zero_grad();
        net.loss(r).backward();
        const auto g = grads_of(net);
        if (expected.empty()) expected = g;
        else
            for (size_t i = 0; i < g.size(); ++i)
                for (size_t j = 0; j < g[i].size(); ++j) expected[i][j] += g[i][j];
    }
    for (auto& v : expected)
        for (float& x : v) x /= static_cast<float>(world);

    net.zero_grad();
    net.loss(me).backward();
    const auto own = grads_of(net);
    std::vector<Tensor> grads;
    for (const Tensor& p : net.params()) grads.push_back(p.grad());
    dist::allreduce_mean(grads);
    const auto in_turn = grads_of(net);
    check(in_turn == expected, "backward then allreduce_mean: the mean of every rank's gradient, in rank order");
    check(world == 1 || own != in_turn, "... which is not this rank's own gradient");
    check(in_turn.back().empty(), "a parameter the loss does not reach keeps no gradient");

    for (int64_t bucket : {int64_t{1}, int64_t{5}, int64_t{37}, int64_t{300}, dist::kOverlapBucketFloats}) {
        net.zero_grad();
        const bool overlapped = dist::backward_mean(net.loss(me), net.params(), bucket);
        check(world == 1 || overlapped, "backward_mean overlapped the all-reduce (MPI grants MPI_THREAD_SERIALIZED)");
        const std::string what = "backward_mean with buckets of " + std::to_string(bucket) +
                                 " floats: the same bits as backward then allreduce_mean";
        check(grads_of(net) == in_turn, what.c_str());
    }
    std::printf("rank %d of %d: %d failures\n", me, world, failures);
    return failures ? 1 : 0;
}
