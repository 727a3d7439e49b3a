// Generation from a trained flow (see rflow/generate.hpp).
#include "rflow/generate.hpp"

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/nn/text_dit.hpp"
#include "rflow/samplers/sampler.hpp"
#include "rflow/trainers/guidance.hpp"

namespace rflow {

Generated generate(nn::VelocityModel& model, const Shape& sample_shape, int64_t n, uint64_t seed,
                   const GenerateOptions& options) {
    NoGradGuard ng;
    RFLOW_CHECK(n >= 1, "generate: n is " << n << " (expected at least 1)");
    RFLOW_CHECK(options.labels.empty() || static_cast<int64_t>(options.labels.size()) == n,
                "generate: " << options.labels.size() << " labels for " << n << " samples");
    auto sampler = samplers::make_sampler(options.method);
    samplers::SamplerOptions o = options.sampler;
    o.record_trajectory = options.record_trajectory;
    Generator g(seed, 2);
    Shape s{n};
    s.insert(s.end(), sample_shape.begin(), sample_shape.end());
    const Tensor x0 = Tensor::normal(s, g).to(model.device());  // drawn on the host: the same on every device
    samplers::VelocityField v = [&model](const Tensor& x, const Tensor& t) { return model.forward(x, t); };
    if (!options.prompt.empty()) {
        auto* text = dynamic_cast<nn::TextDiT*>(&model);
        RFLOW_CHECK(text, "a prompt needs a text-conditioned model (train-images --text)");
        // guidance of the prompt against the empty prompt, the same mechanism as for labels
        v = trainers::guided_velocity(
            [text, prompt = options.prompt](const Tensor& x, const Tensor& t, const std::vector<bool>& conditional) {
                std::vector<std::string> prompts;
                for (bool c : conditional) prompts.push_back(c ? prompt : std::string());
                return text->forward_prompts(x, t, prompts);
            },
            options.cfg_scale);
    } else if (!options.labels.empty()) {
        v = trainers::guided_velocity(model, options.labels, options.cfg_scale);
        o.per_sample = false;  // the labels belong to whole-batch calls
    }
    const bool was_training = model.is_training();
    model.eval();
    samplers::SampleResult r;
    try {
        r = sampler->sample(v, x0, o);
    } catch (...) {
        model.train(was_training);
        throw;
    }
    model.train(was_training);
    Generated out;
    out.x = r.x.to(Device::cpu);
    out.nfe = r.nfe;
    out.budget_exhausted = r.budget_exhausted;
    for (const Tensor& x : r.trajectory) out.trajectory.push_back(x.to(Device::cpu));
    return out;
}

}  // namespace rflow
