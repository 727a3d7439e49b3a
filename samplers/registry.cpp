// The sampler registry: every solver chosen by name, and the Sampler base's out-of-line pieces.
#include <string>

#include "explicit_rk.hpp"
#include "rflow/error.hpp"
#include "rflow/samplers/sampler.hpp"

namespace rflow::samplers {

Sampler::~Sampler() = default;

std::vector<std::string> sampler_names() { return {"euler", "midpoint", "heun", "rk4", "dopri5"}; }

std::unique_ptr<Sampler> make_sampler(const std::string& name) {
    if (name == "euler") return detail::make_fixed_step_sampler(detail::euler_tableau());
    if (name == "midpoint") return detail::make_fixed_step_sampler(detail::midpoint_tableau());
    if (name == "heun") return detail::make_fixed_step_sampler(detail::heun_tableau());
    if (name == "rk4") return detail::make_fixed_step_sampler(detail::rk4_tableau());
    if (name == "dopri5") return detail::make_dopri5_sampler();
    std::string known;
    for (const std::string& n : sampler_names()) known += (known.empty() ? "" : ", ") + n;
    RFLOW_FAIL("unknown sampler '" << name << "' (known: " << known << ")");
}

SampleResult sample(const std::string& name, const VelocityField& v, const Tensor& x0,
                    const SamplerOptions& options) {
    return make_sampler(name)->sample(v, x0, options);
}

}  // namespace rflow::samplers
