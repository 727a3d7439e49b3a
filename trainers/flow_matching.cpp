// Flow-matching trainer: batches from the data source and Philox noise, Adam-style updates via
// any optimizer, non-finite detection, and checkpoints that resume bit for bit.
#include "rflow/trainers/flow_matching.hpp"

#include <chrono>
#include <cmath>

#include "rflow/autograd.hpp"
#include "rflow/dist.hpp"
#include "rflow/error.hpp"
#include "rflow/loss.hpp"
#include "rflow/ops.hpp"
#include "rflow/optim/clip.hpp"

namespace rflow::trainers {

Tensor flow_matching_loss(nn::VelocityModel& model, const Tensor& x0, const Tensor& x1, const Tensor& t,
                          const std::vector<int64_t>& labels) {
    RFLOW_CHECK(x0.shape() == x1.shape(), "flow_matching_loss: x0 " << shape_str(x0.shape()) << " and x1 "
                                                                    << shape_str(x1.shape()) << " differ");
    Shape tb(x0.dim(), 1);
    tb[0] = x0.size(0);
    Tensor tc = t.reshape(tb);
    Tensor xt = add(mul(rsub(tc, 1.f), x0), mul(tc, x1));  // (1 - t) x0 + t x1
    Tensor v = labels.empty() ? model.forward(xt, t) : model.forward(xt, t, labels);
    return mse_loss(v, sub(x1, x0));  // target v = x1 - x0
}

bool all_finite(const std::vector<Tensor>& tensors) {
    NoGradGuard ng;
    Tensor total;  // sum of x * 0 over everything: 0, or NaN when any element is NaN or infinite
    for (const Tensor& t : tensors) {
        if (!t.defined() || t.numel() == 0) continue;
        Tensor part = sum(mul(t.detach(), 0.f));
        total = total.defined() ? add(total, part.to(total.device())) : part;
    }
    return !total.defined() || std::isfinite(total.item());
}

FlowMatchingTrainer::FlowMatchingTrainer(nn::VelocityModel& model, optim::Optimizer& optimizer, PairSource pairs,
                                         FlowMatchingConfig cfg)
    : model_(model), opt_(optimizer), pairs_(std::move(pairs)), cfg_(std::move(cfg)), gen_(cfg_.seed, 1) {
    RFLOW_CHECK(cfg_.batch > 0 && cfg_.steps >= 0, "flow matching: batch must be > 0 and steps >= 0");
    times_ = make_time_sampler(cfg_.time_sampler, cfg_.time_options);
    if (cfg_.ema_decay > 0.f) ema_ = std::make_unique<optim::Ema>(model_.parameters(), cfg_.ema_decay, cfg_.ema_warmup);
}

FlowMatchingTrainer::FlowMatchingTrainer(nn::VelocityModel& model, optim::Optimizer& optimizer, DataSource data,
                                         FlowMatchingConfig cfg)
    : FlowMatchingTrainer(model, optimizer, independent_coupling(std::move(data)), std::move(cfg)) {}

FlowMatchingTrainer::~FlowMatchingTrainer() = default;

float FlowMatchingTrainer::step() {
    // Batches and times are drawn on the host (the same numbers for every device) and moved to
    // the model's device.
    const Device dev = model_.device();
    TrainingBatch b = pairs_(cfg_.batch, gen_);
    b.x0 = b.x0.to(dev);
    b.x1 = b.x1.to(dev);
    Tensor t = times_->sample(cfg_.batch, gen_).to(dev);
    if (!b.labels.empty() && cfg_.label_dropout > 0.f) {
        // classifier-free guidance: replace labels by the null label with probability p
        std::vector<float> u(b.labels.size());
        gen_.uniform(u.data(), static_cast<int64_t>(u.size()));
        for (size_t i = 0; i < u.size(); ++i)
            if (u[i] < cfg_.label_dropout) b.labels[i] = model_.num_classes();
    }
    // data-parallel ranks (rflow/dist.hpp): every rank drew the whole batch above; each trains on its
    // rows, and the gradients and the loss are averaged over the ranks
    const bool parallel = dist::world_size() > 1;
    if (parallel) {
        RFLOW_CHECK(!extra_, "an extra loss term (--adversarial-weight) is not supported across ranks");
        const auto [lo, hi] = dist::batch_share(cfg_.batch);
        b.x0 = b.x0.slice(0, lo, hi);
        b.x1 = b.x1.slice(0, lo, hi);
        t = t.slice(0, lo, hi);
        if (!b.labels.empty()) b.labels = std::vector<int64_t>(b.labels.begin() + lo, b.labels.begin() + hi);
    }
    opt_.zero_grad();
    Tensor loss = flow_matching_loss(model_, b.x0, b.x1, t, b.labels);
    if (extra_) loss = add(loss, extra_(b));
    const float value = parallel ? static_cast<float>(dist::allreduce_mean(loss.item())) : loss.item();
    if (!std::isfinite(value))
        throw NonFiniteError("non-finite loss (" + std::to_string(value) + ") at step " + std::to_string(step_ + 1) +
                             "; parameters kept from step " + std::to_string(step_));
    std::vector<Tensor> params = model_.parameters();
    dist::backward_mean(loss, params);  // on N ranks the gradients' mean over them, overlapping the backward
    if (!optim::grads_finite(params))
        throw NonFiniteError("non-finite gradient at step " + std::to_string(step_ + 1) + "; parameters kept from step " +
                             std::to_string(step_));
    if (cfg_.grad_clip > 0.f) optim::clip_grad_norm(params, cfg_.grad_clip);
    opt_.step();
    if (!all_finite(params))
        throw NonFiniteError("non-finite weights after the update of step " + std::to_string(step_ + 1) +
                             " (the step overflowed); the weights of step " + std::to_string(step_) + " are lost");
    if (ema_) ema_->update(params);
    ++step_;
    losses_.push_back(value);
    return value;
}

void FlowMatchingTrainer::train(const ProgressFn& progress) {
    const auto start = std::chrono::steady_clock::now();
    while (step_ < cfg_.steps) {
        const float loss = step();
        if (progress) {
            const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (!progress({step_, cfg_.steps, elapsed, loss})) break;
        }
    }
}

io::Checkpoint FlowMatchingTrainer::checkpoint(const std::string& config_json) const {
    io::Checkpoint c;
    c.model = model_.state_dict();
    c.optimizer = opt_.state();
    if (ema_)
        for (auto& kv : ema_->state()) c.optimizer.push_back(kv);
    c.rng = gen_.state();
    c.step = step_;
    c.config = config_json;
    return c;
}

void FlowMatchingTrainer::restore(const io::Checkpoint& ckpt) {
    io::TensorList opt_state, ema_state;
    for (const auto& kv : ckpt.optimizer) (kv.first.rfind("ema.", 0) == 0 ? ema_state : opt_state).push_back(kv);
    model_.load_state_dict(ckpt.model);
    opt_.load_state(opt_state);
    if (ema_) {
        RFLOW_CHECK(!ema_state.empty(), "checkpoint has no EMA state but this trainer keeps an EMA (ema_decay "
                                            << cfg_.ema_decay << ")");
        ema_->load_state(ema_state);
    }
    gen_.set_state(ckpt.rng);
    step_ = ckpt.step;
    resumed_from_ = ckpt.step;
    losses_.clear();
}

}  // namespace rflow::trainers
