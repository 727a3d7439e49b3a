// An adversarial term for distillation: a critic sharpens a k-step flow.
//
// Each call (once per distillation step, through FlowMatchingTrainer::set_extra_loss) takes the
// batch's noise z, runs the student's k-step Euler map G(z) = x_k with x_{i+1} = x_i +
// v(x_i, i/k)/k (differentiable), trains the critic n_critic steps on (G(z) as fake, fresh data as
// real) with the chosen critic loss, and returns weight * -E[D(G(z))] for the student's update.
#pragma once

#include <string>

#include "rflow/nn/critic.hpp"
#include "rflow/nn/critic_loss.hpp"
#include "rflow/nn/velocity_model.hpp"
#include "rflow/optim/optimizer.hpp"
#include "rflow/trainers/coupling.hpp"

namespace rflow::trainers {

struct AdversarialOptions {
    float weight = 0.1f;                 ///< weight of -E[D(G(z))] in the student's loss
    std::string loss = "zero-centered";  ///< critic loss: "wgan-gp" or "zero-centered"
    nn::CriticLossOptions loss_options;
    int64_t k = 1;                       ///< Euler steps of the student
    int64_t n_critic = 1;                ///< critic steps per student step
    uint64_t seed = 0;                   ///< real batches and interpolation times
};

/// The student's k-step Euler map from noise z (recorded, so it can be differentiated).
RFLOW_API Tensor euler_map(nn::VelocityModel& student, const Tensor& z, int64_t k);

class RFLOW_API AdversarialTerm {
public:
    AdversarialTerm(nn::VelocityModel& student, nn::Critic& critic, optim::Optimizer& critic_opt,
                    trainers::DataSource real, AdversarialOptions options);
    /// Trains the critic, then returns weight * -E[D(G(batch.x0))].
    Tensor operator()(const trainers::TrainingBatch& batch);
    float last_critic_loss() const { return last_critic_loss_; }

private:
    nn::VelocityModel& student_;
    nn::Critic& critic_;
    optim::Optimizer& critic_opt_;
    trainers::DataSource real_;
    AdversarialOptions o_;
    Generator gen_;
    float last_critic_loss_ = 0;
};

}  // namespace rflow::trainers
