// WGAN-GP and zero-centred critic losses, generator losses (formulas in losses.hpp).
#include "rflow/nn/critic_loss.hpp"

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"

namespace rflow::nn {

namespace {

// [N] -> [N, 1, ..., 1] with x's rank, so one value per sample broadcasts over the sample.
Tensor per_sample(const Tensor& t, const Tensor& like) {
    Shape s(like.dim(), 1);
    s[0] = like.size(0);
    return t.reshape(s);
}

// Sum over every non-batch dimension: [N, ...] -> [N].
Tensor sum_per_sample(const Tensor& x) {
    return sum(x.reshape({x.size(0), -1}), {1});
}

}  // namespace

std::vector<std::string> critic_loss_names() { return {"wgan-gp", "zero-centered"}; }

Tensor interpolate(const Tensor& real, const Tensor& fake, const Tensor& t) {
    RFLOW_CHECK(real.shape() == fake.shape(), "interpolate: real " << shape_str(real.shape()) << " and fake "
                                                                   << shape_str(fake.shape()) << " differ");
    RFLOW_CHECK(t.dim() == 1 && t.size(0) == real.size(0),
                "interpolate: one weight per sample expected, t " << shape_str(t.shape()) << " for "
                                                                  << real.size(0) << " samples");
    const Tensor tc = per_sample(t, real);
    return add(mul(tc, real), mul(rsub(tc, 1.f), fake));  // t x_real + (1 - t) x_fake
}

Tensor input_gradient(Critic& critic, const Tensor& x) {
    Tensor xi = x.detach();
    xi.requires_grad_();
    Tensor scores = critic.forward(xi);
    RFLOW_CHECK(scores.dim() == 1 && scores.size(0) == x.size(0),
                "critic must return one score per sample, got " << shape_str(scores.shape()));
    // samples are independent, so grad of the sum is each sample's own gradient
    return grad({sum(scores)}, {xi}, {}, /*create_graph=*/true)[0];
}

Tensor input_gradient_norms(Critic& critic, const Tensor& x) {
    return sqrt(add(sum_per_sample(square(input_gradient(critic, x))), 1e-12f));
}

CriticLoss critic_loss(const std::string& name, Critic& critic, const Tensor& real, const Tensor& fake,
                       const Tensor& t, const CriticLossOptions& o) {
    RFLOW_CHECK(name == "wgan-gp" || name == "zero-centered",
                "unknown critic loss '" << name << "' (known: wgan-gp, zero-centered)");
    const Tensor f = fake.detach(), r = real.detach();
    CriticLoss out;
    out.wasserstein_gap = sub(mean(critic.forward(f)), mean(critic.forward(r)));
    const Tensor xt = interpolate(r, f, t);
    if (name == "wgan-gp") {
        out.penalty = mul(mean(square(add(input_gradient_norms(critic, xt), -1.f))), o.lambda);
    } else {
        out.penalty = mul(mean(sum_per_sample(square(input_gradient(critic, xt)))), o.zero_weight);
    }
    out.total = add(out.wasserstein_gap, out.penalty);
    return out;
}

CriticLoss critic_loss(const std::string& name, Critic& critic, const Tensor& real, const Tensor& fake,
                       Generator& gen, const CriticLossOptions& o) {
    return critic_loss(name, critic, real, fake, Tensor::uniform({real.size(0)}, gen).to(real.device()), o);
}

Tensor generator_loss(Critic& critic, const Tensor& fake) { return neg(mean(critic.forward(fake))); }

Tensor generator_regression_loss(const Tensor& generated, const Tensor& target) {
    RFLOW_CHECK(generated.shape() == target.shape(), "generator_regression_loss: generated "
                                                         << shape_str(generated.shape()) << " and target "
                                                         << shape_str(target.shape()) << " differ");
    return mean(sum_per_sample(square(sub(generated, target.detach()))));
}

}  // namespace rflow::nn
