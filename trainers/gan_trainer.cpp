// GAN trainers: WGAN-GP, the zero-centred variant B and the vector-field variant A (see
// gan_trainer.hpp for the losses).
#include "rflow/trainers/gan_trainer.hpp"

#include <chrono>
#include <functional>
#include <cmath>

#include "rflow/autograd.hpp"
#include "rflow/dist.hpp"
#include "rflow/error.hpp"
#include "rflow/ops.hpp"
#include "rflow/optim/clip.hpp"
#include "rflow/trainers/flow_matching.hpp"

namespace rflow::trainers {

std::vector<std::string> gan_method_names() { return {"wgan-gp", "zero-centered", "reflow-gan"}; }

namespace {

void check_finite(float value, const char* what, int64_t step) {
    RFLOW_CHECK(std::isfinite(value), "non-finite " << what << " (" << value << ") at generator step " << step + 1
                                                    << "; that player's parameters are kept from before the step");
}

// Data-parallel ranks (rflow/dist.hpp): rows [lo, hi) of a batch every rank drew whole.
Tensor share(const Tensor& x) {
    if (dist::world_size() == 1) return x;
    const auto [lo, hi] = dist::batch_share(x.size(0));
    return x.slice(0, lo, hi);
}

// The mean over the ranks of a loss value (every rank's share is the same size).
float rank_mean(float v) { return dist::world_size() == 1 ? v : static_cast<float>(dist::allreduce_mean(v)); }

void check_grads(const std::vector<Tensor>& params, const char* player, int64_t step) {
    RFLOW_CHECK(optim::grads_finite(params), "non-finite " << player << " gradient at generator step " << step + 1
                                                           << "; its parameters are kept from before the step");
}

}  // namespace

GANTrainer::GANTrainer(nn::Module& generator, nn::Module& critic_module, nn::Critic* critic, nn::VelocityModel* field,
                       optim::Optimizer& generator_opt, optim::Optimizer& critic_opt, trainers::DataSource data,
                       GANConfig cfg)
    : generator_(generator), critic_module_(critic_module), critic_(critic), field_(field), gen_opt_(generator_opt),
      critic_opt_(critic_opt), data_(std::move(data)), cfg_(std::move(cfg)), gen_(cfg_.seed, 3) {
    RFLOW_CHECK(cfg_.batch > 0 && cfg_.steps >= 0 && cfg_.n_critic >= 1 && cfg_.n_gen >= 1,
                "GAN: batch and n_critic, n_gen must be >= 1, steps >= 0");
    RFLOW_CHECK(!cfg_.latent_shape.empty(), "GAN: latent_shape must not be empty");
    const bool vector_field = cfg_.method == "reflow-gan";
    RFLOW_CHECK(vector_field || cfg_.method == "wgan-gp" || cfg_.method == "zero-centered",
                "unknown GAN method '" << cfg_.method << "' (known: wgan-gp, zero-centered, reflow-gan)");
    RFLOW_CHECK(vector_field == (field_ != nullptr),
                "GAN method '" << cfg_.method << "' needs " << (vector_field ? "a vector-field critic v(x, t)"
                                                                             : "a scalar critic D(x)"));
    RFLOW_CHECK(cfg_.ema_decay >= 0.f && cfg_.ema_decay < 1.f, "GAN: ema_decay " << cfg_.ema_decay << " not in [0, 1)");
    if (cfg_.ema_decay > 0.f)
        ema_ = std::make_unique<optim::Ema>(generator_.parameters(), cfg_.ema_decay, cfg_.ema_warmup);
}

GANTrainer::GANTrainer(nn::Module& generator, nn::Critic& critic, optim::Optimizer& generator_opt,
                       optim::Optimizer& critic_opt, trainers::DataSource data, GANConfig cfg)
    : GANTrainer(generator, critic, &critic, nullptr, generator_opt, critic_opt, std::move(data), std::move(cfg)) {}

GANTrainer::GANTrainer(nn::Module& generator, nn::VelocityModel& field, optim::Optimizer& generator_opt,
                       optim::Optimizer& critic_opt, trainers::DataSource data, GANConfig cfg)
    : GANTrainer(generator, field, nullptr, &field, generator_opt, critic_opt, std::move(data), std::move(cfg)) {}

Tensor GANTrainer::latents(int64_t n, Generator& gen) const {
    Shape s{n};
    s.insert(s.end(), cfg_.latent_shape.begin(), cfg_.latent_shape.end());
    return Tensor::normal(s, gen).to(generator_.device());  // drawn on the host: the same on every device
}

Tensor GANTrainer::sample(int64_t n, Generator& gen) {
    NoGradGuard ng;
    if (!ema_) return generator_.forward(latents(n, gen));
    // the averaged generator in, the training weights back out (a throw between restores them too)
    std::vector<Tensor> params = generator_.parameters();
    std::vector<Tensor> kept;
    for (const Tensor& p : params) kept.push_back(p.clone());
    struct Restore {
        std::vector<Tensor>& params;
        const std::vector<Tensor>& kept;
        ~Restore() {
            NoGradGuard ng;
            for (size_t i = 0; i < params.size(); ++i) params[i].copy_(kept[i]);
        }
    } restore{params, kept};
    ema_->copy_to(params);
    return generator_.forward(latents(n, gen));
}

void GANTrainer::critic_step(GANStepStats& stats) {
    // every draw is made for the whole batch, in the same order on every rank; a rank of a
    // data-parallel run then keeps its rows (share), so N ranks train on one process's batch
    const Tensor z = share(latents(cfg_.batch, gen_));
    Tensor fake;
    {
        NoGradGuard ng;
        fake = generator_.forward(z);
    }
    const Tensor real = share(data_(cfg_.batch, gen_)).to(fake.device());
    RFLOW_CHECK(real.shape() == fake.shape(), "GAN: data batch " << shape_str(real.shape()) << " and generator output "
                                                                  << shape_str(fake.shape()) << " differ in shape");
    const Tensor t = share(Tensor::uniform({cfg_.batch}, gen_)).to(real.device());  // interpolation / flow times
    critic_opt_.zero_grad();
    Tensor loss;
    if (critic_) {
        nn::CriticLoss l = nn::critic_loss(cfg_.method, *critic_, real, fake, t, cfg_.loss_options);
        stats.wasserstein_gap = rank_mean(l.wasserstein_gap.item());
        stats.penalty = rank_mean(l.penalty.item());
        loss = l.total;
    } else {
        // eq. 1: regress v(x_t, t) onto x_real - x_fake, fakes at t = 0
        loss = trainers::flow_matching_loss(*field_, fake, real, t);
    }
    stats.critic_loss = rank_mean(loss.item());
    check_finite(stats.critic_loss, "critic loss", step_);
    const std::vector<Tensor> params = critic_module_.parameters();
    dist::backward_mean(loss, params);  // gradients averaged over the ranks (rflow/dist.hpp)
    check_grads(params, "critic", step_);
    critic_opt_.step();
}

void GANTrainer::generator_step(GANStepStats& stats) {
    const std::vector<Tensor> params = generator_.parameters();
    const Tensor z = share(latents(cfg_.batch, gen_));
    if (critic_) {
        gen_opt_.zero_grad();
        Tensor loss = nn::generator_loss(*critic_, generator_.forward(z));
        stats.generator_loss = rank_mean(loss.item());
        check_finite(stats.generator_loss, "generator loss", step_);
        dist::backward_mean(loss, params);
        check_grads(params, "generator", step_);
        gen_opt_.step();
        return;
    }
    // eq. 2: one Euler step of the current field from G_tau(z), absorbed by regression
    Tensor target;
    {
        NoGradGuard ng;
        const Tensor g0 = generator_.forward(z);
        target = add(g0, mul(field_->forward(g0, Tensor::zeros({g0.size(0)}, g0.device())), cfg_.epsilon));
    }
    for (int64_t i = 0; i < cfg_.n_gen; ++i) {
        gen_opt_.zero_grad();
        Tensor loss = nn::generator_regression_loss(generator_.forward(z), target);
        stats.generator_loss = rank_mean(loss.item());
        check_finite(stats.generator_loss, "generator loss", step_);
        dist::backward_mean(loss, params);
        check_grads(params, "generator", step_);
        gen_opt_.step();
    }
}

GANStepStats GANTrainer::step() {
    GANStepStats stats;
    generator_.train();
    critic_module_.train();
    for (int64_t i = 0; i < cfg_.n_critic; ++i) critic_step(stats);
    generator_step(stats);
    if (ema_) ema_->update(generator_.parameters());
    stats.step = ++step_;
    history_.push_back(stats);
    return stats;
}

void GANTrainer::train(const GANProgressFn& progress) {
    const auto start = std::chrono::steady_clock::now();
    while (step_ < cfg_.steps) {
        const GANStepStats s = step();
        if (progress &&
            !progress(s, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()))
            break;
    }
}

io::Checkpoint GANTrainer::checkpoint(const std::string& config_json) const {
    io::Checkpoint c;
    io::append_prefixed(c.model, "generator.", generator_.state_dict());
    io::append_prefixed(c.model, "critic.", critic_module_.state_dict());
    io::append_prefixed(c.optimizer, "generator.", gen_opt_.state());
    io::append_prefixed(c.optimizer, "critic.", critic_opt_.state());
    if (ema_) io::append_prefixed(c.optimizer, "generator_ema.", ema_->state());
    c.rng = gen_.state();
    c.step = step_;
    c.config = config_json;
    return c;
}

void GANTrainer::restore(const io::Checkpoint& ckpt) {
    // each part names itself in errors ("critic weights: ... 'layer0.weight'")
    auto part = [](const char* what, const std::function<void()>& load) {
        try {
            load();
        } catch (const Error& e) {
            RFLOW_FAIL("checkpoint " << what << ": " << e.what());
        }
    };
    part("generator weights", [&] { generator_.load_state_dict(io::strip_prefix(ckpt.model, "generator.")); });
    part("critic weights", [&] { critic_module_.load_state_dict(io::strip_prefix(ckpt.model, "critic.")); });
    part("generator optimizer", [&] { gen_opt_.load_state(io::strip_prefix(ckpt.optimizer, "generator.")); });
    part("critic optimizer", [&] { critic_opt_.load_state(io::strip_prefix(ckpt.optimizer, "critic.")); });
    if (ema_) part("generator EMA", [&] { ema_->load_state(io::strip_prefix(ckpt.optimizer, "generator_ema.")); });
    gen_.set_state(ckpt.rng);
    step_ = ckpt.step;
    history_.clear();
}

}  // namespace rflow::trainers
