// The C API (rflow/rflow_c.h) over the model registry and generate(): C++ exceptions stop here and
// come back as return codes with the message in the caller's buffer.
#include "rflow/rflow_c.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "rflow/config.hpp"
#include "rflow/error.hpp"
#include "rflow/generate.hpp"
#include "rflow/models.hpp"

struct rflow_model {
    rflow::LoadedModel loaded;
};

namespace {

void set_error(char* err, size_t size, const std::string& what) {
    if (!err || size == 0) return;
    const size_t n = std::min(size - 1, what.size());
    std::memcpy(err, what.data(), n);
    err[n] = '\0';
}

// Runs f, turning any exception into `fail` with the message in err.
template <class F, class R>
R guarded(char* err, size_t size, R fail, F&& f) {
    try {
        set_error(err, size, "");
        return f();
    } catch (const std::bad_alloc&) {
        set_error(err, size, "out of memory");
    } catch (const std::exception& e) {
        set_error(err, size, e.what());
    } catch (...) {
        set_error(err, size, "unknown error");
    }
    return fail;
}

}  // namespace

extern "C" {

const char* rflow_version(void) { return RFLOW_VERSION; }

int rflow_version_number(void) { return RFLOW_VERSION_NUMBER; }

rflow_model* rflow_load_model(const char* path, int use_ema, char* err, size_t err_size) {
    return guarded(err, err_size, static_cast<rflow_model*>(nullptr), [&] {
        if (!path) throw rflow::Error("rflow_load_model: path is NULL");
        auto* m = new rflow_model;
        try {
            m->loaded = rflow::load_model(path, use_ema != 0);
        } catch (...) {
            delete m;
            throw;
        }
        return m;
    });
}

int rflow_sample_shape(const rflow_model* model, int64_t* dims, int max_dims) {
    if (!model) return -1;
    const rflow::Shape& s = model->loaded.sample_shape;
    for (int i = 0; i < max_dims && i < static_cast<int>(s.size()); ++i)
        if (dims) dims[i] = s[static_cast<size_t>(i)];
    return static_cast<int>(s.size());
}

int64_t rflow_sample_numel(const rflow_model* model) {
    if (!model) return -1;
    int64_t n = 1;
    for (int64_t d : model->loaded.sample_shape) n *= d;
    return n;
}

int64_t rflow_num_classes(const rflow_model* model) { return model ? model->loaded.model->num_classes() : -1; }

int64_t rflow_sample(rflow_model* model, int64_t n, uint64_t seed, const char* method, int steps, const int64_t* labels,
                     float cfg_scale, float* out, char* err, size_t err_size) {
    return guarded(err, err_size, int64_t{-1}, [&] {
        if (!model) throw rflow::Error("rflow_sample: model is NULL");
        if (!out) throw rflow::Error("rflow_sample: out is NULL");
        if (n < 1 || n > (int64_t{1} << 24))
            throw rflow::Error("rflow_sample: n is " + std::to_string(n) + " (expected 1 to 16777216)");
        if (steps < 1) throw rflow::Error("rflow_sample: steps is " + std::to_string(steps) + " (expected at least 1)");
        rflow::GenerateOptions o;
        o.method = method ? method : "euler";
        o.sampler.steps = steps;
        o.cfg_scale = cfg_scale;
        if (labels) {
            const int64_t classes = model->loaded.model->num_classes();
            if (classes == 0) throw rflow::Error("rflow_sample: labels given, but the model is not class-conditional");
            o.labels.assign(labels, labels + n);
            for (int64_t l : o.labels)
                if (l < 0 || l >= classes)
                    throw rflow::Error("rflow_sample: label " + std::to_string(l) + " outside [0, " +
                                       std::to_string(classes) + ")");
        }
        const rflow::Generated g = rflow::generate(*model->loaded.model, model->loaded.sample_shape, n, seed, o);
        const rflow::Tensor x = g.x.contiguous();
        std::memcpy(out, x.data(), sizeof(float) * static_cast<size_t>(x.numel()));
        return g.nfe;
    });
}

void rflow_free_model(rflow_model* model) { delete model; }

}  // extern "C"
