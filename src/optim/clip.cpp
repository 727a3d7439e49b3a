// Global-norm gradient clipping and the finiteness check on gradients.
#include "rflow/optim/clip.hpp"

#include <Eigen/Core>

#include <cmath>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::optim {

namespace {

bool fast_path(const Tensor& g) { return g.device() == Device::cpu && g.is_contiguous(); }

// sum of g^2 over one grad, in double.
double sum_squares(const Tensor& g) {
    if (fast_path(g)) {
        Eigen::Map<const Eigen::ArrayXf> a(g.data(), g.numel());
        return a.cast<double>().square().sum();
    }
    double s = 0;
    for (float x : g.to_vector()) s += static_cast<double>(x) * x;
    return s;
}

}  // namespace

float grad_norm(const std::vector<Tensor>& params) {
    NoGradGuard no_grad;
    double total = 0;  // ||g||^2 summed over all grads
    for (const Tensor& p : params) {
        if (!p.defined()) continue;
        Tensor g = p.grad();
        if (g.defined()) total += sum_squares(g);
    }
    return static_cast<float>(std::sqrt(total));
}

float clip_grad_norm(const std::vector<Tensor>& params, float max_norm) {
    RFLOW_CHECK(max_norm > 0.f && std::isfinite(max_norm), "clip_grad_norm: max_norm " << max_norm
                                                               << " must be finite and > 0");
    const float norm = grad_norm(params);
    if (!std::isfinite(norm)) return norm;
    // coef = max_norm / (norm + 1e-6), applied only when it is below 1 (torch's clamp to 1).
    const float coef = max_norm / (norm + 1e-6f);
    if (coef >= 1.f) return norm;
    NoGradGuard no_grad;
    for (const Tensor& p : params) {
        if (!p.defined()) continue;
        Tensor g = p.grad();
        if (!g.defined()) continue;
        if (fast_path(g)) {
            Eigen::Map<Eigen::ArrayXf>(g.data(), g.numel()) *= coef;  // g *= coef
        } else {
            g.copy_(mul(g, coef));
        }
    }
    return norm;
}

bool grads_finite(const std::vector<Tensor>& params) {
    for (const Tensor& p : params) {
        if (!p.defined()) continue;
        Tensor g = p.grad();
        if (!g.defined()) continue;
        if (fast_path(g)) {
            if (!Eigen::Map<const Eigen::ArrayXf>(g.data(), g.numel()).allFinite()) return false;
        } else {
            for (float x : g.to_vector())
                if (!std::isfinite(x)) return false;
        }
    }
    return true;
}

}  // namespace rflow::optim
