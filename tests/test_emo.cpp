// EMO loss (SPEC 7.f): the two forms agree; the transport LP's optimum equals the closed form for
// one-hot labels and lies below the product-coupling bound for soft ones; the logit gradient is
// p_k (c_kt - L) and sums to zero; a 0/1 cost gives 1 - p_t; mode "ce+emo" has CE's value but
// another gradient; ignored rows are masked.
#include <doctest/doctest.h>

#include <cmath>
#include <rflow/autograd.hpp>
#include <rflow/emo_loss.hpp>
#include <rflow/ops.hpp>
#include <rflow/ot.hpp>

#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

namespace {

/// c[i][j] = 1 - cos(e_i, e_j) in double.
std::vector<std::vector<double>> cosine_costs(const Tensor& e) {
    const int64_t v = e.size(0), d = e.size(1);
    const std::vector<float> x = e.to_vector();
    std::vector<std::vector<double>> c(v, std::vector<double>(v));
    for (int64_t i = 0; i < v; ++i)
        for (int64_t j = 0; j < v; ++j) {
            double dot = 0, ni = 0, nj = 0;
            for (int64_t k = 0; k < d; ++k) {
                dot += double(x[i * d + k]) * x[j * d + k];
                ni += double(x[i * d + k]) * x[i * d + k];
                nj += double(x[j * d + k]) * x[j * d + k];
            }
            c[i][j] = 1 - dot / std::sqrt(ni * nj);
        }
    return c;
}

/// Exact transport cost between two distributions with weights a_i / m and b_j / m (integers summing to
/// m): an assignment problem between m unit atoms (Birkhoff), solved exactly.
double transport_lp(const std::vector<int>& a, const std::vector<int>& b, const std::vector<std::vector<double>>& c) {
    std::vector<int64_t> rows, cols;
    for (size_t i = 0; i < a.size(); ++i) rows.insert(rows.end(), a[i], static_cast<int64_t>(i));
    for (size_t j = 0; j < b.size(); ++j) cols.insert(cols.end(), b[j], static_cast<int64_t>(j));
    REQUIRE(rows.size() == cols.size());
    const int64_t m = static_cast<int64_t>(rows.size());
    std::vector<double> cost(static_cast<size_t>(m * m));
    for (int64_t r = 0; r < m; ++r)
        for (int64_t s = 0; s < m; ++s) cost[r * m + s] = c[rows[r]][cols[s]];
    const std::vector<int64_t> sigma = linear_sum_assignment(cost, m);
    double total = 0;
    for (int64_t r = 0; r < m; ++r) total += cost[r * m + sigma[r]];
    return total / static_cast<double>(m);
}

}  // namespace

TEST_CASE("EMO: sum_i p_i (1 - cos(e_i, e_t)) equals 1 - <p @ E^, E^[t]>, with ignored rows masked") {
    const Tensor z = rand_tensor({5, 7}, 1, -2.f, 2.f), e = rand_tensor({7, 4}, 2);
    const std::vector<int64_t> t{3, 0, 6, -100, 2};
    const auto c = cosine_costs(e);
    const std::vector<float> p = softmax(z, 1).to_vector();
    const std::vector<float> got = emo_loss(z, t, emo_cost_embedding(e), Reduction::none).to_vector();
    double mean = 0;
    for (int i = 0; i < 5; ++i) {
        double want = 0;
        if (t[i] >= 0)
            for (int k = 0; k < 7; ++k) want += p[i * 7 + k] * c[k][t[i]];
        CHECK(got[i] == doctest::Approx(want).epsilon(1e-5));
        mean += want / 4;
    }
    CHECK(emo_loss(z, t, emo_cost_embedding(e)).item() == doctest::Approx(mean).epsilon(1e-5));
    CHECK_THROWS_WITH_AS(emo_loss(z, {1, 2, 3, 4, 7}, emo_cost_embedding(e)), doctest::Contains("label 7"), Error);
    CHECK_THROWS_WITH_AS(emo_loss(z, t, emo_cost_embedding(rand_tensor({6, 4}, 3))), doctest::Contains("[V = 7"),
                         Error);
}

TEST_CASE("EMO: the transport LP equals the closed form for one-hot labels and is below the bound for soft ones") {
    const Tensor e = rand_tensor({6, 3}, 4);
    const auto c = cosine_costs(e);
    const std::vector<int> p_atoms{10, 5, 20, 3, 12, 10};  // p = atoms / 60
    // one-hot label t = 2: the only plan sends all of p to t
    const Tensor logits = log(Tensor::from_vector({10, 5, 20, 3, 12, 10}, {1, 6}));
    const double lp = transport_lp(p_atoms, {0, 0, 60, 0, 0, 0}, c);
    CHECK(emo_loss(logits, {2}, emo_cost_embedding(e)).item() == doctest::Approx(lp).epsilon(1e-5));
    // soft labels: the optimum is at most sum_ij p_i tau_j c_ij
    const std::vector<int> tau{0, 30, 0, 15, 0, 15};
    double bound = 0;
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) bound += p_atoms[i] / 60.0 * tau[j] / 60.0 * c[i][j];
    const double soft = transport_lp(p_atoms, tau, c);
    MESSAGE("soft-label LP optimum " << soft << " <= product-coupling bound " << bound);
    CHECK(soft < bound - 0.05);
}

TEST_CASE("EMO: dL/dz_k = p_k (c_kt - L), summing to zero; finite differences agree") {
    const Tensor z = rand_tensor({1, 8}, 5, -2.f, 2.f).requires_grad_(true), e = rand_tensor({8, 5}, 6);
    const Tensor cost = emo_cost_embedding(e);
    const auto c = cosine_costs(e);
    const Tensor loss = emo_loss(z, {4}, cost);
    const std::vector<float> g = grad({loss}, {z})[0].to_vector();
    const std::vector<float> p = softmax(z.detach(), 1).to_vector();
    double total = 0;
    for (int k = 0; k < 8; ++k) {
        CHECK(g[k] == doctest::Approx(p[k] * (c[k][4] - loss.item())).epsilon(1e-4).scale(1e-6));
        total += g[k];
    }
    CHECK(std::fabs(total) < 1e-6);
    rflow::testing::Fn f = [&](const V& x) { return emo_loss(x[0], {4, 1, 0}, cost, Reduction::none); };
    CHECK(check_grad(f, {rand_tensor({3, 8}, 7, -2.f, 2.f)}).ok);
    for (const std::string& mode : {"ce", "emo"}) {  // objectives whose gradient is their value's
        CAPTURE(mode);
        rflow::testing::Fn fm = [&](const V& x) {
            return classifier_objective(classifier_loss(mode), x[0], {4, -100, 0}, cost);
        };
        CHECK(check_grad(fm, {rand_tensor({3, 8}, 8, -2.f, 2.f)}).ok);
    }
    // the combinations stop the gradient through their ratio: one row, against the blend of the parts
    const Tensor gce = grad({cross_entropy(z, {4})}, {z})[0], gemo = grad({emo_loss(z, {4}, cost)}, {z})[0];
    const float ce = cross_entropy(z, {4}).item(), emo = loss.item();
    const Tensor g1 = grad({classifier_objective(ClassifierLoss::ce_emo, z, {4}, cost)}, {z})[0];
    const Tensor g2 = grad({classifier_objective(ClassifierLoss::emo_ce, z, {4}, cost)}, {z})[0];
    CHECK(max_abs_diff(g1, mul(add(gce, mul(gemo, ce / emo)), 0.5f)) < 1e-5);
    CHECK(max_abs_diff(g2, add(gemo, mul(gce, emo / ce))) < 1e-5);
}

TEST_CASE("EMO: a 0/1 cost gives 1 - p_t; mode ce+emo keeps CE's value but not its gradient") {
    const Tensor z = rand_tensor({4, 5}, 9, -2.f, 2.f).requires_grad_(true);
    const std::vector<int64_t> t{0, 4, 2, 2};
    std::vector<float> eye(25, 0.f);
    for (int i = 0; i < 5; ++i) eye[i * 6] = 1.f;
    const Tensor zero_one = emo_cost_embedding(Tensor::from_vector(eye, {5, 5}));
    const std::vector<float> p = softmax(z.detach(), 1).to_vector();
    const std::vector<float> l = emo_loss(z, t, zero_one, Reduction::none).to_vector();
    for (int i = 0; i < 4; ++i) CHECK(l[i] == doctest::Approx(1 - p[i * 5 + t[i]]).epsilon(1e-6));
    const Tensor cost = emo_cost_embedding(rand_tensor({5, 3}, 10));
    const Tensor ce = cross_entropy(z, t);
    const Tensor mode1 = classifier_objective(ClassifierLoss::ce_emo, z, t, cost);
    CHECK(mode1.item() == doctest::Approx(ce.item()).epsilon(1e-6));
    CHECK(max_abs_diff(grad({mode1}, {z})[0], grad({ce}, {z})[0]) > 1e-3);
    // mode emo+ce: value = EMO + EMO = 2 EMO
    CHECK(classifier_objective(ClassifierLoss::emo_ce, z, t, cost).item() ==
          doctest::Approx(2 * emo_loss(z, t, cost).item()).epsilon(1e-5));
    CHECK_THROWS_WITH_AS(classifier_loss("kl"), doctest::Contains("ce, emo, ce+emo, emo+ce"), Error);
}
