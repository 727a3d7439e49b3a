// The adversarial distillation term (see adversarial.hpp).
#include "rflow/trainers/adversarial.hpp"

#include <cmath>

#include "rflow/autograd.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"
#include "rflow/optim/clip.hpp"

namespace rflow::trainers {

Tensor euler_map(nn::VelocityModel& student, const Tensor& z, int64_t k) {
    RFLOW_CHECK(k >= 1, "euler_map: k must be >= 1, got " << k);
    Tensor x = z;
    for (int64_t i = 0; i < k; ++i) {
        const Tensor t = Tensor::full({z.size(0)}, static_cast<float>(i) / static_cast<float>(k), z.device());
        x = add(x, mul(student.forward(x, t), 1.f / static_cast<float>(k)));  // x + v(x, i/k) / k
    }
    return x;
}

AdversarialTerm::AdversarialTerm(nn::VelocityModel& student, nn::Critic& critic, optim::Optimizer& critic_opt,
                                 trainers::DataSource real, AdversarialOptions options)
    : student_(student), critic_(critic), critic_opt_(critic_opt), real_(std::move(real)), o_(std::move(options)),
      gen_(o_.seed, 6) {
    RFLOW_CHECK(o_.weight >= 0.f && std::isfinite(o_.weight), "adversarial weight must be >= 0, got " << o_.weight);
    RFLOW_CHECK(o_.k >= 1 && o_.n_critic >= 1, "adversarial term: k and n_critic must be >= 1");
    RFLOW_CHECK(o_.loss == "wgan-gp" || o_.loss == "zero-centered",
                "unknown critic loss '" << o_.loss << "' (known: wgan-gp, zero-centered)");
}

Tensor AdversarialTerm::operator()(const trainers::TrainingBatch& batch) {
    const Tensor fake = euler_map(student_, batch.x0, o_.k);
    for (int64_t i = 0; i < o_.n_critic; ++i) {
        const Tensor real = real_(fake.size(0), gen_).to(fake.device());
        critic_opt_.zero_grad();
        nn::CriticLoss l = nn::critic_loss(o_.loss, critic_, real, fake.detach(), gen_, o_.loss_options);
        last_critic_loss_ = l.total.item();
        RFLOW_CHECK(std::isfinite(last_critic_loss_), "adversarial term: non-finite critic loss (" << last_critic_loss_ << ")");
        l.total.backward();  // fake is detached: this reaches the critic's weights only
        const std::vector<Tensor> params = critic_.parameters();
        RFLOW_CHECK(optim::grads_finite(params), "adversarial term: non-finite critic gradient");
        critic_opt_.step();
    }
    return mul(nn::generator_loss(critic_, fake), o_.weight);
}

}  // namespace rflow::trainers
