// Critic and generator losses of WGAN-GP and of the ReFlow-derived GAN (SPEC section 1.d).
//
// Interpolates: x_t = t x_real + (1 - t) x_fake with ONE t ~ U[0, 1] PER SAMPLE (t broadcasts
// over every non-batch dimension), i.e. WGAN-GP's x_hat with eps = t, and SPEC eq. 3's
// x_t = (1 - t) x_fake + t x_real. Gradient norms are taken over ALL non-batch dimensions of a
// sample: ||grad_x D(x_t)||_2 of the flattened sample, never per pixel or per channel.
//
//   "wgan-gp"        L_D = E[D(fake)] - E[D(real)] + lambda E[(||grad D(x_t)|| - 1)^2]   (lambda = 10)
//   "zero-centered"  L_D = E[D(fake)] - E[D(real)] + weight E[||grad D(x_t)||^2]        (weight = 1/2)
//   generator        L_G = -E[D(G(z))]
//
// The penalty is built with create_graph, so its gradient with respect to the critic's weights
// flows through grad_x D (double backward).
#pragma once

#include <string>
#include <vector>

#include "rflow/nn/critic.hpp"

namespace rflow::nn {

struct CriticLossOptions {
    float lambda = 10.f;        ///< "wgan-gp": weight of the one-centred penalty
    float zero_weight = 0.5f;   ///< "zero-centered": weight of E||grad D||^2 (1/2 from the derivation)
};

/// The terms of a critic loss: total = wasserstein_gap + penalty, where wasserstein_gap =
/// E[D(fake)] - E[D(real)] (minus the critic's estimate of the distance).
struct CriticLoss {
    Tensor total, wasserstein_gap, penalty;
};

/// Names accepted by critic_loss: "wgan-gp", "zero-centered".
RFLOW_API std::vector<std::string> critic_loss_names();

/// x_t = t x_real + (1 - t) x_fake with t [N] (one weight per sample).
RFLOW_API Tensor interpolate(const Tensor& real, const Tensor& fake, const Tensor& t);

/// ||grad_x D(x)|| per sample [N], the norm over all non-batch dimensions; differentiable in
/// the critic's weights (create_graph).
RFLOW_API Tensor input_gradient_norms(Critic& critic, const Tensor& x);
/// grad_x sum D(x), same shape as x; differentiable in the critic's weights (create_graph).
RFLOW_API Tensor input_gradient(Critic& critic, const Tensor& x);

/// The critic loss `name` on given interpolation weights t [N] (tests use a grid here).
RFLOW_API CriticLoss critic_loss(const std::string& name, Critic& critic, const Tensor& real, const Tensor& fake,
                                 const Tensor& t, const CriticLossOptions& options = {});
/// The critic loss `name` with t ~ U[0, 1] per sample drawn from gen (N words).
RFLOW_API CriticLoss critic_loss(const std::string& name, Critic& critic, const Tensor& real, const Tensor& fake,
                                 Generator& gen, const CriticLossOptions& options = {});

/// -E[D(fake)]: the generator's loss (WGAN, WGAN-GP and variant B alike).
RFLOW_API Tensor generator_loss(Critic& critic, const Tensor& fake);

/// Variant A's generator step (SPEC eq. 2): mean over samples of ||g - target||^2, the squared
/// norm summed over each sample's dimensions, target = stopgrad(g_theta_tau(z) + eps v(g, 0)).
RFLOW_API Tensor generator_regression_loss(const Tensor& generated, const Tensor& target);

}  // namespace rflow::nn
