// Attention scale policies (SPEC 5.f): the softmax-Jacobian identity 1/2 sum |J| = alpha (1 - sum p^2)
// in double and through the library's float32 softmax, the gradmax solve and its fit 0.84 sqrt(ln n),
// the cosine temperature at d = 128 (SPEC 5.e table, 3.5 ln n), and the policy names and values.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <rflow/autograd.hpp>
#include <rflow/error.hpp>
#include <rflow/nn/attention_scale.hpp>
#include <rflow/ops.hpp>

using namespace rflow;
using namespace rflow::nn;

namespace {

std::vector<double> random_scores(size_t n, uint64_t seed, double spread) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd(0.0, spread);
    std::vector<double> s(n);
    for (double& v : s) v = nd(rng);
    return s;
}

// The SPEC 5.e table: n, normal alpha* (exact solve), cosine alpha* at d = 128.
struct Row {
    double n, normal, cosine;
};
const Row kTable[] = {{40, 1.43, 16.8},    {512, 2.01, 24.2},    {1000, 2.14, 26.0},
                      {4096, 2.41, 29.7},  {10000, 2.56, 32.0},  {20000, 2.68, 33.7}};

}  // namespace

TEST_CASE("SPEC 5.f.1: 1/2 sum_ij |d p_i / d s_j| = alpha (1 - sum p^2) in float64") {
    uint64_t seed = 1;
    for (size_t n : {1, 2, 3, 7, 32, 200})
        for (double spread : {0.1, 1.0, 5.0})
            for (double alpha : {0.01, 0.5, 1.0, 2.5, 10.0, 40.0}) {
                const std::vector<double> s = random_scores(n, seed++, spread);
                const double lhs = softmax_jacobian_half_l1(s, alpha);
                const double rhs = alpha * (1 - softmax_collision(s, alpha));
                INFO("n = " << n << ", spread = " << spread << ", alpha = " << alpha);
                CHECK(std::abs(lhs - rhs) <= 1e-13 * std::max(1.0, alpha));
            }
    // the extremes: uniform p (collision 1/n, norm alpha (1 - 1/n)) and a one-hot softmax (norm -> 0)
    CHECK(softmax_collision(std::vector<double>(8, 0.3), 2.0) == doctest::Approx(1.0 / 8).epsilon(1e-15));
    CHECK(softmax_jacobian_half_l1(std::vector<double>(8, 0.3), 2.0) == doctest::Approx(2.0 * 7 / 8).epsilon(1e-14));
    CHECK(softmax_jacobian_half_l1({0.0, 1.0, 2.0}, 1e3) < 1e-200);
    CHECK_THROWS_AS(softmax_collision({}, 1.0), Error);
}

TEST_CASE("SPEC 5.f.1: the identity holds for the Jacobian of rflow::softmax (float32 autograd)") {
    uint64_t seed = 100;
    for (int64_t n : {2, 5, 16, 40})
        for (float alpha : {0.3f, 1.f, 2.5f, 8.f}) {
            const std::vector<double> sd = random_scores(static_cast<size_t>(n), seed++, 1.0);
            const std::vector<float> sf(sd.begin(), sd.end());
            // row i of J = d p_i / d s: the vector-Jacobian product with e_i, p = softmax(alpha s)
            double half_l1 = 0;
            for (int64_t i = 0; i < n; ++i) {
                Tensor s = Tensor::from_vector(sf, {n}).requires_grad_(true);
                Tensor p = softmax(mul(s, alpha), -1);
                std::vector<float> e(static_cast<size_t>(n), 0.f);
                e[static_cast<size_t>(i)] = 1.f;
                const std::vector<float> row = grad({p}, {s}, {Tensor::from_vector(e, {n})})[0].to_vector();
                for (float v : row) half_l1 += 0.5 * std::abs(double(v));
            }
            const std::vector<double> s_rounded(sf.begin(), sf.end());
            const double expect = alpha * (1 - softmax_collision(s_rounded, alpha));
            INFO("n = " << n << ", alpha = " << alpha << ": 1/2 |J|_1 = " << half_l1 << ", alpha (1 - sum p^2) = " << expect);
            CHECK(std::abs(half_l1 - expect) <= 1e-5 * std::max(1.0, double(alpha)));
            // and against the library's own p
            const std::vector<float> p = softmax(mul(Tensor::from_vector(sf, {n}), alpha), -1).to_vector();
            double coll = 0;
            for (float v : p) coll += double(v) * v;
            CHECK(std::abs(half_l1 - alpha * (1 - coll)) <= 1e-5 * std::max(1.0, double(alpha)));
        }
}

TEST_CASE("SPEC 5.f.2-3: gradmax alpha* solves e^{a^2}(1 + 2a^2) = n, increases with n, fits 0.84 sqrt(ln n)") {
    CHECK(std::abs(gradmax_alpha(512) - 2.0084) < 1e-4);
    double prev = 0;
    for (const Row& r : kTable) {
        const double a = gradmax_alpha(r.n);
        INFO("n = " << r.n << ": alpha* = " << a);
        CHECK(std::abs(std::exp(a * a) * (1 + 2 * a * a) / r.n - 1) < 1e-12);
        CHECK(std::abs(a - r.normal) <= 0.01);
        CHECK(a > prev);
        prev = a;
    }
    for (double n = 1000; n <= 20000; n *= 1.1) {
        const double a = gradmax_alpha(n);
        INFO("n = " << n << ": alpha* = " << a << ", 0.84 sqrt(ln n) = " << 0.84 * std::sqrt(std::log(n)));
        CHECK(std::abs(a - 0.84 * std::sqrt(std::log(n))) / a < 0.035);
    }
    // close to n = 1 the root goes to 0 as sqrt((n - 1) / 3); n <= 1 has no positive root
    CHECK(gradmax_alpha(1 + 1e-6) == doctest::Approx(std::sqrt(1e-6 / 3)).epsilon(1e-5));
    CHECK(gradmax_alpha(1e300) == doctest::Approx(std::sqrt(std::log(1e300) - std::log1p(2 * std::log(1e300)))).epsilon(1e-3));
    for (double bad : {1.0, 0.5, -3.0, std::nan(""), HUGE_VAL}) CHECK_THROWS_AS(gradmax_alpha(bad), Error);
    try {
        gradmax_alpha(0.5);
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("0.5") != std::string::npos);
    }
}

TEST_CASE("SPEC 5.f.2: gradmax alpha* maximises the mean-field objective a (1 - e^{a^2}/n)") {
    for (const Row& r : kTable) {
        const double a = gradmax_alpha(r.n);
        auto f = [&](double x) { return x * (1 - std::exp(x * x) / r.n); };
        INFO("n = " << r.n);
        CHECK(f(a) >= f(a + 0.01));
        CHECK(f(a) >= f(a - 0.01));
        CHECK(f(a) >= f(a + 1e-4));
        CHECK(f(a) >= f(a - 1e-4));
        CHECK(f(a) > f(0.5 * a));
        CHECK(f(a) > f(1.5 * a));
    }
}

TEST_CASE("SPEC 5.f.4: cosine temperature at d = 128 (table of 5.e, 3.5 ln n), and a closed form at d = 3") {
    CHECK(std::abs(gradmax_alpha_cosine(4096, 128) - 29.70) <= 0.05);
    double prev = 0;
    for (const Row& r : kTable) {
        const double a = gradmax_alpha_cosine(r.n, 128);
        INFO("n = " << r.n << ": alpha*_cos = " << a);
        CHECK(std::abs(a - r.cosine) <= 0.1);
        CHECK(a > prev);
        prev = a;
    }
    for (double n : {4096.0, 10000.0, 20000.0}) {
        const double a = gradmax_alpha_cosine(n, 128);
        INFO("n = " << n << ": alpha*_cos = " << a << ", 3.5 ln n = " << 3.5 * std::log(n));
        CHECK(std::abs(a - 3.5 * std::log(n)) / a < 0.03);
    }
    // d = 3: s is uniform on [-1, 1], g(a) = sinh(a)/a, g(2a)/g(a)^2 = a coth(a), so the objective is
    // a (1 - a coth(a)/n), maximised at a = n/2 up to e^{-n} terms
    CHECK(gradmax_alpha_cosine(40, 3) == doctest::Approx(20).epsilon(1e-7));
    CHECK(gradmax_alpha_cosine(4096, 3) == doctest::Approx(2048).epsilon(1e-7));
    // d = 2: g = I_0 and g(2a)/g(a)^2 ~ sqrt(pi a), so alpha* ~ (n / (1.5 sqrt(pi)))^2 for large n
    CHECK(gradmax_alpha_cosine(4096, 2) == doctest::Approx(std::pow(4096 / (1.5 * std::sqrt(std::acos(-1.0))), 2)).epsilon(1e-3));
    CHECK_THROWS_AS(gradmax_alpha_cosine(1.0, 128), Error);
    CHECK_THROWS_AS(gradmax_alpha_cosine(100, 1), Error);
}

TEST_CASE("policies: names round trip, unknown names list the known ones, the scale of each policy") {
    const std::vector<std::string> names = scale_policy_names();
    REQUIRE(names == std::vector<std::string>{"default", "gradmax", "cosine", "logn"});
    CHECK(scale_policy("default") == ScalePolicy::standard);
    CHECK(scale_policy("gradmax") == ScalePolicy::gradmax);
    CHECK(scale_policy("cosine") == ScalePolicy::cosine);
    CHECK(scale_policy("logn") == ScalePolicy::logn);
    CHECK(normalises_qk(scale_policy("cosine")));
    for (const char* name : {"default", "gradmax", "logn"}) CHECK_FALSE(normalises_qk(scale_policy(name)));
    bool threw = false;
    try {
        scale_policy("entropy");
    } catch (const Error& e) {
        threw = true;
        const std::string msg = e.what();
        CHECK(msg.find("entropy") != std::string::npos);
        for (const std::string& name : names) CHECK(msg.find(name) != std::string::npos);
    }
    CHECK(threw);

    const int64_t d = 64;
    CHECK(attention_scale(ScalePolicy::standard, 1000, d) == doctest::Approx(0.125).epsilon(1e-15));
    CHECK(attention_scale(ScalePolicy::gradmax, 512, d) == doctest::Approx(gradmax_alpha(512) / 8).epsilon(1e-15));
    CHECK(std::abs(attention_scale(ScalePolicy::gradmax, 512, d) - 2.0084 / 8) < 1e-4 / 8);
    CHECK(attention_scale(ScalePolicy::cosine, 4096, 128) == doctest::Approx(gradmax_alpha_cosine(4096, 128)).epsilon(1e-15));
    CHECK(attention_scale(ScalePolicy::logn, 512, d) == doctest::Approx(0.125).epsilon(1e-15));
    CHECK(attention_scale(ScalePolicy::logn, 4096, d) == doctest::Approx(12.0 / 9 / 8).epsilon(1e-14));
    // n < 2 is clamped to 2 (one key: the softmax is 1 whatever the scale)
    for (ScalePolicy p : {ScalePolicy::standard, ScalePolicy::gradmax, ScalePolicy::cosine, ScalePolicy::logn}) {
        CHECK(attention_scale(p, 0, d) == attention_scale(p, 2, d));
        CHECK(attention_scale(p, 1, d) == attention_scale(p, 2, d));
        CHECK(attention_scale(p, 2, d) > 0);
    }
    CHECK_THROWS_AS(attention_scale(ScalePolicy::standard, -1, d), Error);
    CHECK_THROWS_AS(attention_scale(ScalePolicy::gradmax, std::nan(""), d), Error);
    CHECK_THROWS_AS(attention_scale(ScalePolicy::standard, 10, 0), Error);
}
