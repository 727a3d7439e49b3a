// The arithmetic every Runge-Kutta step shares: stage sums x + h sum_j c_j k_j, tolerance-scaled
// RMS error norms, per-row time tensors and counted velocity calls.
//
// The fixed-step loop spends its time in v; around it each step costs one pass over x. On the CPU,
// when nothing would be recorded for autograd, a stage sum is one fused pass into a fresh buffer
// (no temporaries, no per-op dispatch); elsewhere (CUDA, or recording a graph) it is built from
// ops, which record history exactly when the caller's grad mode says so.
#include "step_kernels.hpp"

#include <algorithm>
#include <cmath>

#include "rflow/autograd.hpp"
#include "rflow/device.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::samplers::detail {

namespace {

constexpr int64_t kBlock = 256;        // elements per inner block (stays in L1)
constexpr int64_t kGrain = 1 << 15;    // elements below which one thread does the whole pass

/// f(begin, end) over [0, n) split into at most num_threads() chunks of >= grain items each.
/// Items are independent, so the result never depends on the thread count.
template <class F>
void parallel_chunks(int64_t n, int64_t grain, F&& f) {
    const int64_t chunks = std::min<int64_t>(std::max(1, num_threads()), grain > 0 ? n / grain : 1);
    if (chunks <= 1) {
        if (n > 0) f(int64_t{0}, n);
        return;
    }
#if defined(_OPENMP)
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) f(n * c / chunks, n * (c + 1) / chunks);
#else
    f(int64_t{0}, n);
#endif
}

/// Can the fused CPU path run? Only where the ops would record nothing anyway.
bool fusable(const Tensor& x, const std::vector<Term>& terms) {
    const bool recording = grad_enabled();
    if (x.device() != Device::cpu || (recording && x.requires_grad())) return false;
    for (const Term& t : terms)
        if (t.k.device() != Device::cpu || (recording && t.k.requires_grad())) return false;
    return true;
}

/// Terms with a nonzero coefficient, as contiguous CPU pointers.
struct Packed {
    std::vector<float> c;
    std::vector<const float*> k;
    std::vector<Tensor> keep;  // holds contiguous copies alive
};

Packed pack(const std::vector<Term>& terms) {
    Packed p;
    for (const Term& t : terms) {
        if (t.c == 0.0) continue;
        Tensor kc = t.k.contiguous();
        p.c.push_back(static_cast<float>(t.c));
        p.k.push_back(kc.data());
        p.keep.push_back(std::move(kc));
    }
    return p;
}

/// acc[i] = sum_j c_j k_j[base + i] for i < len (len <= kBlock).
inline void stage_sum(const Packed& p, int64_t base, int64_t len, float* acc) {
    const float c0 = p.c[0];
    const float* k0 = p.k[0] + base;
    for (int64_t i = 0; i < len; ++i) acc[i] = c0 * k0[i];
    for (size_t j = 1; j < p.c.size(); ++j) {
        const float cj = p.c[j];
        const float* kj = p.k[j] + base;
        for (int64_t i = 0; i < len; ++i) acc[i] += cj * kj[i];
    }
}

/// [N, 1, ..., 1] float tensor of per-row values, broadcastable against x.
Tensor row_tensor(const std::vector<double>& v, const Tensor& x) {
    std::vector<float> f(v.begin(), v.end());
    Shape s(static_cast<size_t>(x.dim()), 1);
    s[0] = x.size(0);
    return Tensor::from_vector(f, s, x.device());
}

/// h_r sum_j c_j k_j from ops (undefined when every c_j is 0).
Tensor weighted_sum_ops(const Tensor& x, const Steps& h, const std::vector<Term>& terms) {
    Tensor acc;
    for (const Term& t : terms) {
        if (t.c == 0.0) continue;
        Tensor ck = t.c == 1.0 ? t.k : mul(t.k, static_cast<float>(t.c));
        acc = acc.defined() ? add(acc, ck) : ck;
    }
    if (!acc.defined()) return acc;
    return h.size() == 1 ? mul(acc, static_cast<float>(h[0])) : mul(acc, row_tensor(h, x));
}

void check_steps(const Tensor& x, const Steps& h) {
    RFLOW_CHECK(h.size() == 1 || static_cast<int64_t>(h.size()) == x.size(0),
                "sampler: " << h.size() << " step sizes for " << x.size(0) << " rows");
}

}  // namespace

Tensor combine(const Tensor& x, const Steps& h, const std::vector<Term>& terms) {
    check_steps(x, h);
    for (const Term& t : terms)
        RFLOW_CHECK(t.k.shape() == x.shape(), "sampler: stage of shape " << shape_str(t.k.shape())
                                                  << " for x of shape " << shape_str(x.shape()));
    if (!fusable(x, terms)) {
        Tensor d = weighted_sum_ops(x, h, terms);
        return d.defined() ? add(x, d) : x;
    }
    const Packed p = pack(terms);
    if (p.c.empty()) return x;
    const Tensor xc = x.contiguous();
    Tensor out = Tensor::empty(x.shape());
    const float* xs = xc.data();
    float* os = out.data();
    const int64_t n = x.numel();
    const int64_t rows = x.size(0);
    const int64_t per = rows > 0 ? n / rows : 0;

    // out[i] = x[i] + h_row(i) * sum_j c_j k_j[i], in blocks of kBlock elements
    auto run = [&](int64_t begin, int64_t end, float hr) {
        float acc[kBlock];
        for (int64_t b = begin; b < end; b += kBlock) {
            const int64_t len = std::min(kBlock, end - b);
            stage_sum(p, b, len, acc);
            for (int64_t i = 0; i < len; ++i) os[b + i] = xs[b + i] + hr * acc[i];
        }
    };
    if (h.size() == 1) {
        const float h0 = static_cast<float>(h[0]);
        parallel_chunks(n, kGrain, [&](int64_t b, int64_t e) { run(b, e, h0); });
    } else {
        parallel_chunks(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(per, 1)), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) run(r * per, (r + 1) * per, static_cast<float>(h[r]));
        });
    }
    return out;
}

std::vector<double> scaled_rms(const Tensor& a, const Tensor& b, const Steps& h,
                               const std::vector<Term>& terms, double atol, double rtol) {
    check_steps(a, h);
    const int64_t rows = a.size(0);
    const int64_t per = rows > 0 ? a.numel() / rows : 0;
    std::vector<double> out(static_cast<size_t>(rows), 0.0);
    if (per == 0) return out;
    if (b.defined())
        RFLOW_CHECK(b.shape() == a.shape(), "sampler: error norm of mismatched shapes");
    // Same rule as combine(): tensors with history (or off the CPU) take the ops path, which
    // then runs under NoGradGuard, since step-size control is bookkeeping, never part of a graph.
    std::vector<Term> all = terms;
    if (b.defined()) all.push_back({0.0, b});
    if (!fusable(a, all)) {
        NoGradGuard no_grad;
        std::vector<Term> plain;
        for (const Term& t : terms) plain.push_back({t.c, t.k.detach()});
        Tensor num = weighted_sum_ops(a.detach(), h, plain);
        if (!num.defined()) return out;
        Tensor mag = abs(a.detach());
        if (b.defined()) mag = maximum(mag, abs(b.detach()));
        Tensor r = square(div(num, add(mul(mag, static_cast<float>(rtol)), static_cast<float>(atol))));
        if (r.dim() > 1) {
            std::vector<int64_t> axes;
            for (int64_t d = 1; d < r.dim(); ++d) axes.push_back(d);
            r = mean(r, axes);
        }
        const std::vector<float> ms = r.to_vector();
        for (int64_t i = 0; i < rows; ++i) out[i] = std::sqrt(static_cast<double>(ms[i]));
        return out;
    }
    const Packed p = pack(terms);
    if (p.c.empty()) return out;
    const Tensor ac = a.contiguous();
    const Tensor bc = b.defined() ? b.contiguous() : Tensor();
    const float* as = ac.data();
    const float* bs = bc.defined() ? bc.data() : nullptr;
    const float fa = static_cast<float>(atol), fr = static_cast<float>(rtol);
    parallel_chunks(rows, std::max<int64_t>(1, kGrain / per), [&](int64_t r0, int64_t r1) {
        float acc[kBlock];
        for (int64_t r = r0; r < r1; ++r) {
            const double hr = h.size() == 1 ? h[0] : h[r];
            double sum = 0.0;
            for (int64_t b0 = r * per; b0 < (r + 1) * per; b0 += kBlock) {
                const int64_t len = std::min(kBlock, (r + 1) * per - b0);
                stage_sum(p, b0, len, acc);
                for (int64_t i = 0; i < len; ++i) {
                    float mag = std::fabs(as[b0 + i]);
                    if (bs) mag = std::max(mag, std::fabs(bs[b0 + i]));
                    const double q = hr * acc[i] / (fa + fr * mag);
                    sum += q * q;
                }
            }
            out[r] = std::sqrt(sum / static_cast<double>(per));
        }
    });
    return out;
}

Tensor time_tensor(const std::vector<double>& t, int64_t n, Device device) {
    if (t.size() == 1) return Tensor::full({n}, static_cast<float>(t[0]), device);
    RFLOW_CHECK(static_cast<int64_t>(t.size()) == n, "sampler: " << t.size() << " times for " << n << " rows");
    return Tensor::from_vector(std::vector<float>(t.begin(), t.end()), {n}, device);
}

Tensor evaluate(const VelocityField& v, const Tensor& x, const Tensor& t, Counter& count,
                const char* sampler) {
    Tensor vel = v(x, t);
    ++count.nfe;
    count.rows += x.size(0);
    RFLOW_CHECK(vel.defined(), sampler << ": the velocity field returned an undefined tensor");
    RFLOW_CHECK(vel.shape() == x.shape(), sampler << ": the velocity field returned " << shape_str(vel.shape())
                                                  << " for x of shape " << shape_str(x.shape()));
    RFLOW_CHECK(vel.device() == x.device(), sampler << ": the velocity field returned a tensor on "
                                                    << device_name(vel.device()) << " for x on "
                                                    << device_name(x.device()));
    return vel;
}

void check_x0(const Tensor& x0, const char* sampler) {
    RFLOW_CHECK(x0.defined(), sampler << ": x0 is undefined");
    RFLOW_CHECK(x0.dim() >= 1, sampler << ": x0 needs a batch axis [N, ...], got a scalar");
}

}  // namespace rflow::samplers::detail
