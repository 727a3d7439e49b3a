// Reflow pair generation and storage.
#include "rflow/trainers/reflow.hpp"

#include <cstdio>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/safetensors.hpp"
#include "rflow/ops.hpp"

namespace rflow::trainers {

Pairs generate_pairs(const samplers::VelocityField& v, const Shape& sample_shape, int64_t n, Generator& gen,
                     const PairGenerationOptions& o, const Pairs& start) {
    RFLOW_CHECK(n > 0 && o.chunk > 0, "generate_pairs: need n > 0 and chunk > 0");
    const int64_t resumed = start.z0.defined() ? start.z0.size(0) : 0;
    RFLOW_CHECK(resumed < n && resumed % o.chunk == 0 && (resumed == 0 || start.z1.shape() == start.z0.shape()),
                "generate_pairs: the " << resumed << " pairs to resume from must be whole chunks of " << o.chunk
                                       << ", fewer than " << n << ", with z0 and z1 of one shape");
    NoGradGuard ng;
    auto sampler = samplers::make_sampler(o.sampler);
    std::vector<Tensor> z0s, z1s;
    if (resumed > 0) {
        z0s.push_back(start.z0);
        z1s.push_back(start.z1);
    }
    int64_t nfe = 0, chunks = 0;
    for (int64_t done = resumed; done < n;) {
        const int64_t m = std::min(o.chunk, n - done);
        Shape s{m};
        s.insert(s.end(), sample_shape.begin(), sample_shape.end());
        Tensor z0 = Tensor::normal(s, gen);
        samplers::SampleResult r = sampler->sample(v, z0.to(o.device), o.sampler_options);
        RFLOW_CHECK(!r.budget_exhausted, "generate_pairs: the " << o.sampler << " step budget ran out before t = 1");
        z0s.push_back(z0);
        z1s.push_back(r.x.to(Device::cpu));
        nfe += r.nfe;
        ++chunks;
        done += m;
        if (o.on_chunk && done < n) o.on_chunk(Pairs{concat(z0s, 0), concat(z1s, 0), {}}, gen.state());
        if (o.progress && !o.progress(done, n)) RFLOW_FAIL("pair generation cancelled at " << done << " of " << n);
    }
    Pairs p{concat(z0s, 0), concat(z1s, 0), {}};
    p.metadata = {{"sampler", o.sampler},
                  {"sample_steps", std::to_string(o.sampler_options.steps)},
                  {"nfe_per_chunk", std::to_string(nfe / chunks)},
                  {"count", std::to_string(n)}};
    return p;
}

void save_pairs(const std::string& path, const Pairs& pairs) {
    RFLOW_CHECK(pairs.z0.shape() == pairs.z1.shape(), "save_pairs: z0 and z1 shapes differ");
    io::save_weights(path, {{"z0", pairs.z0}, {"z1", pairs.z1}}, pairs.metadata);
}

Pairs load_pairs(const std::string& path, const Shape& sample_shape) {
    io::SafetensorsFile f = io::read_safetensors(path);
    const io::RawTensor& a = f.at("z0");
    const io::RawTensor& b = f.at("z1");
    RFLOW_CHECK(a.shape == b.shape && !a.shape.empty() && a.shape[0] > 0,
                path << ": z0 " << shape_str(a.shape) << " and z1 " << shape_str(b.shape) << " must share a shape [N, ...]");
    if (!sample_shape.empty()) {
        const Shape each(a.shape.begin() + 1, a.shape.end());
        RFLOW_CHECK(each == sample_shape, path << ": 'z0' holds samples of shape " << shape_str(each)
                                               << ", the model's are " << shape_str(sample_shape));
    }
    Pairs p{Tensor::from_vector(io::to_f32(a), a.shape), Tensor::from_vector(io::to_f32(b), b.shape), f.metadata};
    return p;
}

std::string weights_fingerprint(const std::vector<std::pair<std::string, Tensor>>& weights) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
    auto mix = [&h](const void* data, size_t bytes) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    for (const auto& [name, t] : weights) {
        mix(name.data(), name.size() + 1);
        for (int64_t d : t.shape()) mix(&d, sizeof d);
        const std::vector<float> values = t.to(Device::cpu).to_vector();
        mix(values.data(), values.size() * sizeof(float));
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

}  // namespace rflow::trainers
