// Reflow pair generation and storage.
#include "rflow/trainers/reflow.hpp"

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/safetensors.hpp"
#include "rflow/ops.hpp"

namespace rflow::trainers {

Pairs generate_pairs(const samplers::VelocityField& v, const Shape& sample_shape, int64_t n, Generator& gen,
                     const PairGenerationOptions& o) {
    RFLOW_CHECK(n > 0 && o.chunk > 0, "generate_pairs: need n > 0 and chunk > 0");
    NoGradGuard ng;
    auto sampler = samplers::make_sampler(o.sampler);
    std::vector<Tensor> z0s, z1s;
    int64_t nfe = 0;
    for (int64_t done = 0; done < n;) {
        const int64_t m = std::min(o.chunk, n - done);
        Shape s{m};
        s.insert(s.end(), sample_shape.begin(), sample_shape.end());
        Tensor z0 = Tensor::normal(s, gen);
        samplers::SampleResult r = sampler->sample(v, z0.to(o.device), o.sampler_options);
        RFLOW_CHECK(!r.budget_exhausted, "generate_pairs: the " << o.sampler << " step budget ran out before t = 1");
        z0s.push_back(z0);
        z1s.push_back(r.x.to(Device::cpu));
        nfe += r.nfe;
        done += m;
        if (o.progress && !o.progress(done, n)) RFLOW_FAIL("pair generation cancelled at " << done << " of " << n);
    }
    Pairs p{concat(z0s, 0), concat(z1s, 0), {}};
    p.metadata = {{"sampler", o.sampler},
                  {"sample_steps", std::to_string(o.sampler_options.steps)},
                  {"nfe_per_chunk", std::to_string(nfe / static_cast<int64_t>(z0s.size()))},
                  {"count", std::to_string(n)}};
    return p;
}

void save_pairs(const std::string& path, const Pairs& pairs) {
    RFLOW_CHECK(pairs.z0.shape() == pairs.z1.shape(), "save_pairs: z0 and z1 shapes differ");
    io::save_weights(path, {{"z0", pairs.z0}, {"z1", pairs.z1}}, pairs.metadata);
}

Pairs load_pairs(const std::string& path) {
    io::SafetensorsFile f = io::read_safetensors(path);
    const io::RawTensor& a = f.at("z0");
    const io::RawTensor& b = f.at("z1");
    RFLOW_CHECK(a.shape == b.shape && !a.shape.empty() && a.shape[0] > 0,
                path << ": z0 " << shape_str(a.shape) << " and z1 " << shape_str(b.shape) << " must share a shape [N, ...]");
    Pairs p{Tensor::from_vector(io::to_f32(a), a.shape), Tensor::from_vector(io::to_f32(b), b.shape), f.metadata};
    return p;
}

}  // namespace rflow::trainers
