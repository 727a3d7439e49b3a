// Finite-difference gradient checks: central differences against autograd, first and second order.
#include "gradcheck.hpp"

#include <cmath>
#include <sstream>

namespace rflow::testing {

Tensor rand_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
    Generator g(seed, 7);
    return Tensor::uniform(shape, g, lo, hi);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    auto va = a.to_vector(), vb = b.to_vector();
    double m = 0;
    for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(double(va[i]) - vb[i]));
    return m;
}

namespace {

// Inputs become leaves that require grad. A module's parameter (already such a leaf) is used as
// it is, so perturbing it perturbs the module that f calls; anything else is copied first.
std::vector<Tensor> as_variables(std::vector<Tensor>& inputs) {
    std::vector<Tensor> vars;
    for (Tensor& t : inputs) {
        if (!(t.requires_grad() && t.is_leaf() && t.is_contiguous())) {
            t = t.detach().contiguous().clone();
            t.requires_grad_(true);
        }
        vars.push_back(t);
    }
    return vars;
}

// d output / d vars; an input that f does not use would make the check vacuous, so it fails.
std::vector<Tensor> analytic_grad(GradCheckResult& r, const Tensor& output, const std::vector<Tensor>& vars) {
    try {
        return grad({output}, vars);
    } catch (const Error& e) {
        r.ok = false;
        r.report = std::string("vacuous check: ") + e.what();
        std::vector<Tensor> zeros;
        for (const Tensor& v : vars) zeros.push_back(zeros_like(v));
        return zeros;
    }
}

void compare(GradCheckResult& r, const std::vector<Tensor>& analytic, std::vector<Tensor>& inputs,
             const std::function<double()>& objective, float eps, double atol, double rtol) {
    for (size_t k = 0; k < inputs.size(); ++k) {
        std::vector<float> ga = analytic[k].to_vector();
        float* p = inputs[k].data();
        for (int64_t i = 0; i < inputs[k].numel(); ++i) {
            const float saved = p[i];
            p[i] = saved + eps;
            const double up = objective();
            p[i] = saved - eps;
            const double down = objective();
            p[i] = saved;
            const double numeric = (up - down) / (2.0 * eps);
            const double err = std::fabs(numeric - ga[i]);
            const double rel = err / std::max(1e-6, std::fabs(numeric));
            r.max_abs_err = std::max(r.max_abs_err, err);
            if (err > atol + rtol * std::fabs(numeric)) {
                if (r.ok || rel > r.max_rel_err) {
                    std::ostringstream os;
                    os << "input " << k << " element " << i << ": autograd " << ga[i] << " vs numeric " << numeric;
                    r.report = os.str();
                }
                r.ok = false;
                r.max_rel_err = std::max(r.max_rel_err, rel);
            }
        }
    }
}

}  // namespace

GradCheckResult check_grad(const Fn& f, std::vector<Tensor> inputs, float eps, double atol, double rtol) {
    GradCheckResult r;
    std::vector<Tensor> vars = as_variables(inputs);
    Tensor y = f(vars);
    Tensor w = rand_tensor(y.shape(), 12345, 0.5f, 1.5f);
    Tensor loss = sum(mul(y, w));
    std::vector<Tensor> analytic = analytic_grad(r, loss, vars);
    // not under NoGradGuard: f may differentiate inside (a gradient penalty)
    auto objective = [&]() { return double(sum(mul(f(vars), w)).item()); };
    compare(r, analytic, inputs, objective, eps, atol, rtol);
    return r;
}

GradCheckResult check_grad2(const Fn& f, std::vector<Tensor> inputs, float eps, double atol, double rtol) {
    GradCheckResult r;
    std::vector<Tensor> vars = as_variables(inputs);
    Tensor w;
    // G(x) = sum_k ||dL/dx_k||^2 with L = sum(w f(x)^2); create_graph keeps G differentiable
    auto G = [&](bool create_graph) {
        Tensor y = f(vars);
        if (!w.defined()) w = rand_tensor(y.shape(), 54321, 0.5f, 1.5f);
        Tensor loss = sum(mul(square(y), w));
        std::vector<Tensor> g = grad({loss}, vars, {}, create_graph, true);
        Tensor total = Tensor::scalar(0.f);
        for (const Tensor& gi : g) total = add(total, sum(square(gi)));
        return total;
    };
    Tensor g_total = G(true);
    std::vector<Tensor> analytic = grad({g_total}, vars, {}, false, true);
    auto objective = [&]() { return double(G(false).item()); };
    compare(r, analytic, inputs, objective, eps, atol, rtol);
    return r;
}

}  // namespace rflow::testing
