// GAN trainers (SPEC section 1.e): a generator G(z), z ~ N(0, I), against a critic, alternating
// n_critic critic steps and one generator step.
//
//   "wgan-gp"        critic: E[D(G(z))] - E[D(x)] + lambda E[(||grad D(x_t)|| - 1)^2]
//                    generator: -E[D(G(z))]                     (Gulrajani et al. 2017)
//   "zero-centered"  variant B: critic E[D(G(z))] - E[D(x)] + 1/2 E[||grad D(x_t)||^2] (eq. 3),
//                    generator -E[D(G(z))] (eq. 4)
//   "reflow-gan"     variant A: a vector-field critic v(x, t) regressed onto x_real - x_fake
//                    along x_t = (1 - t) x_fake + t x_real (eq. 1); the generator regressed
//                    n_gen times onto the fixed target G_tau(z) + eps v(G_tau(z), 0) (eq. 2)
//
// Fakes play x0 (t = 0), reals x1 (t = 1): the project's time convention. Real and fake are
// paired at random (independent coupling), as in WGAN-GP.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rflow/nn/critic.hpp"
#include "rflow/nn/critic_loss.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/nn/velocity_model.hpp"
#include "rflow/optim/ema.hpp"
#include "rflow/optim/optimizer.hpp"
#include "rflow/trainers/coupling.hpp"

namespace rflow::trainers {

struct GANConfig {
    std::string method = "wgan-gp";  ///< "wgan-gp", "zero-centered" or "reflow-gan"
    int64_t steps = 1000;            ///< generator iterations
    int64_t batch = 256;
    int64_t n_critic = 5;            ///< critic steps per generator step
    int64_t n_gen = 1;               ///< "reflow-gan": regression steps on one fixed target
    float epsilon = 1.f;             ///< "reflow-gan": Euler step eps along v(G(z), 0)
    Shape latent_shape{2};           ///< z's shape per sample
    nn::CriticLossOptions loss_options;
    uint64_t seed = 0;               ///< seeds z, data batches and interpolation times
    float ema_decay = 0.f;           ///< EMA of the generator's weights (0 = off); sample() uses it
    bool ema_warmup = true;          ///< d = min(ema_decay, (1 + n) / (10 + n)), see optim::Ema
};

/// Names accepted as GANConfig::method.
RFLOW_API std::vector<std::string> gan_method_names();

/// What one generator iteration measured (critic values are those of its last critic step).
struct GANStepStats {
    int64_t step = 0;
    float critic_loss = 0;      ///< total critic loss (reflow-gan: the flow-matching loss)
    float wasserstein_gap = 0;  ///< E[D(fake)] - E[D(real)] (0 for reflow-gan)
    float penalty = 0;          ///< the gradient penalty term (0 for reflow-gan)
    float generator_loss = 0;
};
using GANProgressFn = std::function<bool(const GANStepStats&, double elapsed_s)>;

class RFLOW_API GANTrainer {
public:
    /// "wgan-gp" / "zero-centered": a scalar critic.
    GANTrainer(nn::Module& generator, nn::Critic& critic, optim::Optimizer& generator_opt, optim::Optimizer& critic_opt,
               trainers::DataSource data, GANConfig cfg);
    /// "reflow-gan": a vector-field critic v(x, t).
    GANTrainer(nn::Module& generator, nn::VelocityModel& field, optim::Optimizer& generator_opt,
               optim::Optimizer& critic_opt, trainers::DataSource data, GANConfig cfg);

    /// One generator iteration (n_critic critic steps, then the generator). Throws, naming the
    /// step and the player, if a loss or gradient is not finite; the parameters of the player
    /// concerned are then those of its previous step.
    GANStepStats step();
    void train(const GANProgressFn& progress = nullptr);

    /// n samples G(z), z ~ N(0, I) from gen, without autograd; with the EMA generator when there
    /// is one (the training weights are put back afterwards).
    Tensor sample(int64_t n, Generator& gen);
    /// The EMA of the generator's weights, or null when cfg.ema_decay == 0.
    const optim::Ema* ema() const { return ema_.get(); }
    int64_t steps_done() const { return step_; }
    const std::vector<GANStepStats>& history() const { return history_; }

    /// Generator ("generator.*") and critic ("critic.*") weights, both optimizers, the generator's
    /// EMA ("generator_ema.*"), RNG and step.
    io::Checkpoint checkpoint(const std::string& config_json = "") const;
    void restore(const io::Checkpoint& ckpt);

private:
    GANTrainer(nn::Module& generator, nn::Module& critic_module, nn::Critic* critic, nn::VelocityModel* field,
               optim::Optimizer& generator_opt, optim::Optimizer& critic_opt, trainers::DataSource data, GANConfig cfg);
    Tensor latents(int64_t n, Generator& gen) const;
    void critic_step(GANStepStats& stats);
    void generator_step(GANStepStats& stats);

    nn::Module& generator_;
    nn::Module& critic_module_;
    nn::Critic* critic_;            // scalar critic, or null
    nn::VelocityModel* field_;  // vector-field critic, or null
    optim::Optimizer& gen_opt_;
    optim::Optimizer& critic_opt_;
    trainers::DataSource data_;
    GANConfig cfg_;
    Generator gen_;
    std::unique_ptr<optim::Ema> ema_;
    int64_t step_ = 0;
    std::vector<GANStepStats> history_;
};

}  // namespace rflow::trainers
