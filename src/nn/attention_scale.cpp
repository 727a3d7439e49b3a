// Softmax-scale policies for attention (see attention_scale.hpp; SPEC §5): the gradient-maximising
// scales of Su's article 9812 for normal and cosine scores, the entropy-invariant log_512(n) scale,
// and the exact softmax-Jacobian quantities the tests check them against.
#include "rflow/nn/attention_scale.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rflow/error.hpp"

namespace rflow::nn {

namespace {

constexpr double kPi = 3.14159265358979323846;

// p = softmax(alpha s) in double, with the maximum subtracted before exponentiating.
std::vector<double> softmax_of(const std::vector<double>& s, double alpha) {
    RFLOW_CHECK(!s.empty(), "softmax of an empty score vector");
    RFLOW_CHECK(std::isfinite(alpha), "softmax scale must be finite, got " << alpha);
    double m = -std::numeric_limits<double>::infinity();
    for (double v : s) m = std::max(m, alpha * v);
    std::vector<double> p(s.size());
    double z = 0;
    for (size_t i = 0; i < s.size(); ++i) z += (p[i] = std::exp(alpha * s[i] - m));
    for (double& v : p) v /= z;
    return p;
}

// ---- cosine scores: g(a) = E[e^{a s}], s = cos(theta) of two random directions in R^d ----
//
// With s = cos(theta), theta in [0, pi], the density (1 - s^2)^{(d-3)/2} ds becomes sin^{d-2}(theta)
// d(theta), smooth on [0, pi] for every d >= 2 (no endpoint singularity at d = 2), so
//   g(a) = J(a) / J(0),   J(a) = int_0^pi e^{a cos theta} sin^{d-2} theta d theta
//        = Gamma(d/2) (2/a)^{d/2-1} I_{d/2-1}(a)          (modified Bessel, SPEC 5.b),
//   J(0) = sqrt(pi) Gamma((d-1)/2) / Gamma(d/2).
// log J(a) = a + log int e^{phi(theta)}, phi = -2a sin^2(theta/2) + (d-2) log sin theta
// (a cos theta = a - 2a sin^2(theta/2), exact for large a). phi is unimodal: it peaks at theta*
// with tan(theta*) sin(theta*) = (d-2)/a (theta* = 0 for d = 2) and falls on both sides, with local
// width sigma = (a cos theta* + (d-2)/sin^2 theta*)^{-1/2}. We integrate over theta* +- 40 sigma
// (clipped to [0, pi]; e^{-800} of the peak is lost outside) with composite Gauss-Legendre and sum
// in log space (log-sum-exp), so nothing overflows for any a or d.

constexpr int kGaussOrder = 20;
constexpr int kPanels = 48;

struct GaussLegendre {
    double x[kGaussOrder], w[kGaussOrder];  // on [-1, 1]
    GaussLegendre() {
        // Newton on P_n from the Chebyshev-like initial guesses; P_n' from the recurrence.
        const int n = kGaussOrder;
        for (int i = 0; i < n; ++i) {
            double z = std::cos(kPi * (i + 0.75) / (n + 0.5)), dp = 0;
            for (int it = 0; it < 100; ++it) {
                double p0 = 1, p1 = z;
                for (int k = 2; k <= n; ++k) {
                    const double p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
                    p0 = p1;
                    p1 = p2;
                }
                dp = n * (z * p1 - p0) / (z * z - 1);
                const double dz = p1 / dp;
                z -= dz;
                if (std::abs(dz) < 1e-16) break;
            }
            x[i] = z;
            w[i] = 2 / ((1 - z * z) * dp * dp);
        }
    }
};

const GaussLegendre& gauss_legendre() {
    static const GaussLegendre gl;
    return gl;
}

// theta* in [0, pi/2]: the maximiser of a cos(theta) + m log sin(theta), m = d - 2 >= 0, a > 0.
// Solves h(theta) = m cos(theta) - a sin^2(theta) = 0 (decreasing in theta) by bisection.
double peak_theta(double a, double m) {
    if (m == 0) return 0;
    double lo = 0, hi = kPi / 2;
    for (int it = 0; it < 200; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        const double sn = std::sin(mid);
        (m * std::cos(mid) - a * sn * sn > 0 ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

// log J(a) for a >= 0 (the unnormalised integral above).
double log_j(double a, int64_t d) {
    const double m = static_cast<double>(d - 2);
    double t0 = 0, t1 = kPi;
    if (a > 0) {
        const double ts = peak_theta(a, m), sn = std::sin(ts);
        const double curv = a * std::cos(ts) + (sn > 0 ? m / (sn * sn) : 0.0);
        if (curv > 0) {
            const double sigma = 1 / std::sqrt(curv);
            t0 = std::max(0.0, ts - 40 * sigma);
            t1 = std::min(kPi, ts + 40 * sigma);
        }
    } else if (m > 0) {
        const double sigma = 1 / std::sqrt(m);  // a = 0: peak at pi/2, curvature m
        t0 = std::max(0.0, kPi / 2 - 40 * sigma);
        t1 = std::min(kPi, kPi / 2 + 40 * sigma);
    }
    const GaussLegendre& gl = gauss_legendre();
    const double h = (t1 - t0) / kPanels;
    static thread_local std::vector<double> terms;
    terms.clear();
    double mx = -std::numeric_limits<double>::infinity();
    for (int p = 0; p < kPanels; ++p) {
        const double c = t0 + (p + 0.5) * h;
        for (int i = 0; i < kGaussOrder; ++i) {
            const double th = c + 0.5 * h * gl.x[i];
            const double s2 = std::sin(0.5 * th);
            double phi = -2 * a * s2 * s2 + std::log(0.5 * h * gl.w[i]);
            if (m > 0) phi += m * std::log(std::sin(th));
            terms.push_back(phi);
            mx = std::max(mx, phi);
        }
    }
    double sum = 0;
    for (double t : terms) sum += std::exp(t - mx);
    return a + mx + std::log(sum);
}

// The cosine mean-field objective F(a) = a (1 - g(2a) / (n g(a)^2)), with
// log(g(2a)/g(a)^2) = log J(2a) - 2 log J(a) + log J(0).
double cosine_objective(double a, double log_n, int64_t d, double log_j0) {
    const double log_ratio = log_j(2 * a, d) - 2 * log_j(a, d) + log_j0;
    return a * (1 - std::exp(log_ratio - log_n));
}

}  // namespace

std::vector<std::string> scale_policy_names() { return {"default", "gradmax", "cosine", "logn"}; }

ScalePolicy scale_policy(const std::string& name) {
    if (name == "default") return ScalePolicy::standard;
    if (name == "gradmax") return ScalePolicy::gradmax;
    if (name == "cosine") return ScalePolicy::cosine;
    if (name == "logn") return ScalePolicy::logn;
    RFLOW_FAIL("unknown attention scale policy '" << name << "' (known: default, gradmax, cosine, logn)");
}

// Normal scores s ~ N(0, 1): E[e^{a s}] = e^{a^2/2}, so sum p^2 ~ e^{a^2}/n and the mean-field
// objective is f(a) = a (1 - e^{a^2}/n); f'(a) = 1 - e^{a^2}(1 + 2a^2)/n = 0 gives
// e^{a^2}(1 + 2a^2) = n. In logs, h(a) = a^2 + log(1 + 2a^2) = log n, increasing from h(0) = 0, and
// h(sqrt(log n)) > log n, so bisection on [0, sqrt(log n)] runs until the bracket cannot shrink.
double gradmax_alpha(double n) {
    RFLOW_CHECK(n > 1 && std::isfinite(n), "gradmax_alpha: the key count n must be finite and > 1, got " << n);
    const double log_n = std::log(n);
    double lo = 0, hi = std::sqrt(log_n);
    while (true) {
        const double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        const double a2 = mid * mid;
        (a2 + std::log1p(2 * a2) < log_n ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

// Cosine scores: maximise F(a) = a (1 - g(2a)/(n g(a)^2)). F(a) ~ a (1 - 1/n) > 0 near 0 and, since
// log g is convex, g(2a)/g(a)^2 grows without bound, so F has an interior maximum; it is unimodal (F' =
// 1 - (r + a r')/n decreases). We walk up a geometric grid a = 1e-3 * 1.25^k until F drops, then
// golden-section search on the last two steps. (For small d the optimum can be very large, e.g.
// d = 2 gives r ~ sqrt(pi a) and a* ~ (n / (1.5 sqrt(pi)))^2; the walk allows a up to 1e15.)
double gradmax_alpha_cosine(double n, int64_t d) {
    RFLOW_CHECK(n > 1 && std::isfinite(n), "gradmax_alpha_cosine: the key count n must be finite and > 1, got " << n);
    RFLOW_CHECK(d >= 2, "gradmax_alpha_cosine: the head width d must be >= 2, got " << d);
    const double log_n = std::log(n);
    const double log_j0 = 0.5 * std::log(kPi) + std::lgamma(0.5 * (d - 1)) - std::lgamma(0.5 * d);
    auto f = [&](double a) { return cosine_objective(a, log_n, d, log_j0); };
    const double step = 1.25;
    double a_prev2 = 0, a_prev = 1e-3, f_prev = f(a_prev), a = a_prev * step, fa = f(a);
    while (fa >= f_prev) {
        RFLOW_CHECK(a < 1e15, "gradmax_alpha_cosine: no maximum below a = 1e15 for n = " << n << ", d = " << d);
        a_prev2 = a_prev;
        a_prev = a;
        f_prev = fa;
        a *= step;
        fa = f(a);
    }
    // the maximum lies in [a_prev2, a] (F(a_prev) >= F(a_prev2) and > F(a))
    const double invphi = (std::sqrt(5.0) - 1) / 2;
    double lo = a_prev2, hi = a;
    double x1 = hi - invphi * (hi - lo), x2 = lo + invphi * (hi - lo), f1 = f(x1), f2 = f(x2);
    while (hi - lo > 1e-12 * hi) {
        if (f1 < f2) {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + invphi * (hi - lo);
            f2 = f(x2);
        } else {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - invphi * (hi - lo);
            f1 = f(x1);
        }
    }
    return 0.5 * (lo + hi);
}

// d p_i / d s_j = alpha (p_i delta_ij - p_i p_j), summed in absolute value over the full n x n
// matrix (O(n^2), the reference the identity 1/2 sum |J| = alpha (1 - sum p^2) is tested against).
double softmax_jacobian_half_l1(const std::vector<double>& s, double alpha) {
    const std::vector<double> p = softmax_of(s, alpha);
    double total = 0;
    for (size_t i = 0; i < p.size(); ++i)
        for (size_t j = 0; j < p.size(); ++j) total += std::abs(alpha * ((i == j ? p[i] : 0.0) - p[i] * p[j]));
    return 0.5 * total;
}

double softmax_collision(const std::vector<double>& s, double alpha) {
    double c = 0;
    for (double v : softmax_of(s, alpha)) c += v * v;
    return c;
}

// n below 2 (no key, or one key: the softmax is 1 whatever the scale) is clamped to 2, the smallest
// count at which every formula is positive (gradmax needs n > 1; log_512(1) = 0 would zero the scores).
double attention_scale(ScalePolicy p, double n, int64_t d) {
    RFLOW_CHECK(d >= 1, "attention_scale: the head width d must be >= 1, got " << d);
    RFLOW_CHECK(std::isfinite(n) && n >= 0, "attention_scale: the key count n must be finite and >= 0, got " << n);
    n = std::max(n, 2.0);
    const double inv_sqrt_d = 1 / std::sqrt(static_cast<double>(d));
    switch (p) {
        case ScalePolicy::standard: return inv_sqrt_d;
        case ScalePolicy::gradmax: return gradmax_alpha(n) * inv_sqrt_d;
        case ScalePolicy::cosine: return gradmax_alpha_cosine(n, d);  // q, k unit vectors: no 1/sqrt(d)
        case ScalePolicy::logn: return std::log(n) / std::log(512.0) * inv_sqrt_d;
    }
    RFLOW_FAIL("attention_scale: unknown policy " << static_cast<int>(p));
}

}  // namespace rflow::nn
