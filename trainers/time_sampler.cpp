// Time samplers for flow-matching training (uniform, logit-normal, k-step grid).
#include "rflow/trainers/time_sampler.hpp"

#include <cmath>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::trainers {

namespace {

class UniformTime : public TimeSampler {
public:
    Tensor sample(int64_t n, Generator& gen) const override { return Tensor::uniform({n}, gen); }
    std::string name() const override { return "uniform"; }
};

class LogitNormalTime : public TimeSampler {
public:
    LogitNormalTime(float m, float s) : m_(m), s_(s) {
        RFLOW_CHECK(s > 0.f, "logit-normal time sampler needs std > 0, got " << s);
    }
    Tensor sample(int64_t n, Generator& gen) const override {
        NoGradGuard ng;
        return sigmoid(Tensor::normal({n}, gen, m_, s_));  // t = sigmoid(m + s n)
    }
    std::string name() const override { return "logit-normal"; }

private:
    float m_, s_;
};

class GridTime : public TimeSampler {
public:
    explicit GridTime(int64_t k) : k_(k) { RFLOW_CHECK(k >= 1, "grid time sampler needs k >= 1, got " << k); }
    Tensor sample(int64_t n, Generator& gen) const override {
        std::vector<int64_t> idx(n);
        gen.randint(idx.data(), n, 0, k_);  // t = j / k, j uniform in 0..k-1
        std::vector<float> t(n);
        for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(idx[i]) / static_cast<float>(k_);
        return Tensor::from_vector(t, {n});
    }
    std::string name() const override { return "grid"; }

private:
    int64_t k_;
};

}  // namespace

std::unique_ptr<TimeSampler> make_time_sampler(const std::string& name, const TimeSamplerOptions& o) {
    if (name == "uniform") return std::make_unique<UniformTime>();
    if (name == "logit-normal") return std::make_unique<LogitNormalTime>(o.logit_mean, o.logit_std);
    if (name == "grid") return std::make_unique<GridTime>(o.grid_steps);
    RFLOW_FAIL("unknown time sampler '" << name << "' (known: uniform, logit-normal, grid)");
}

std::vector<std::string> time_sampler_names() { return {"uniform", "logit-normal", "grid"}; }

}  // namespace rflow::trainers
