// The GAN module: critics (second-order checks through whole critics), the gradient penalties
// against hand-computed values (one t per sample, the norm over all of a sample's dimensions),
// the checkable properties of SPEC 1.h (FTC identity, critic = least squares in a quadratic
// class, one-step generator equivalence, penalty-weight scaling) and small trainings.
#include <doctest/doctest.h>

#include <cmath>

#include <rflow/autograd.hpp>
#include <rflow/trainers/adversarial.hpp>
#include <rflow/nn/critic.hpp>
#include <rflow/trainers/gan_trainer.hpp>
#include <rflow/nn/critic_loss.hpp>
#include <rflow/nn/linear.hpp>
#include <rflow/nn/mlp.hpp>
#include <rflow/nn/velocity_mlp.hpp>
#include <rflow/optim/adam.hpp>
#include <rflow/trainers/flow_matching.hpp>

#include "gradcheck.hpp"

using namespace rflow;
using rflow::testing::check_grad;
using rflow::testing::check_grad2;
using rflow::testing::max_abs_diff;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

namespace {

std::vector<float> vec(const Tensor& t) { return t.contiguous().to_vector(); }

/// D(x) = 1/2 sum_j x_j^2 over every dimension of a sample: grad D(x) = x.
class HalfSquareCritic : public nn::Critic {
public:
    Tensor forward(const Tensor& x) override {
        return mul(sum(square(x.reshape({x.size(0), -1})), {1}), 0.5f);
    }
};

/// 1-D quadratic critic D(x) = a x^2 / 2 + b x, so grad D = a x + b (SPEC 1.h.2).
class QuadraticCritic : public nn::Critic {
public:
    QuadraticCritic() {
        a_ = register_parameter("a", Tensor::zeros({1}));
        b_ = register_parameter("b", Tensor::zeros({1}));
    }
    Tensor forward(const Tensor& x) override {
        const Tensor x1 = x.reshape({x.size(0)});
        return add(mul(mul(square(x1), a_), 0.5f), mul(x1, b_));
    }
    Tensor a_, b_;
};

/// D(x) = sum_j sqrt(|w x_j|), w = 1: finite at x = 0, with a 0/0 derivative in w there.
class SqrtCritic : public nn::Critic {
public:
    SqrtCritic() { w_ = register_parameter("w", Tensor::ones({1})); }
    Tensor forward(const Tensor& x) override { return sum(sqrt(abs(mul(x, w_))), {1}); }
    Tensor w_;
};

/// The minimiser (a, b) of a critic loss that is quadratic in (a, b): L = 1/2 th^T H th + c^T th,
/// from its gradients at 0, e_a and e_b (autograd, through the penalty's double backward).
std::pair<double, double> quadratic_minimiser(const std::function<Tensor(QuadraticCritic&)>& loss) {
    QuadraticCritic d;
    auto gradient_at = [&](float a, float b) {
        d.a_.fill_(a);
        d.b_.fill_(b);
        auto g = grad({loss(d)}, {d.a_, d.b_});
        return std::pair<double, double>{g[0].item(), g[1].item()};
    };
    const auto c = gradient_at(0, 0), ga = gradient_at(1, 0), gb = gradient_at(0, 1);
    const double h00 = ga.first - c.first, h10 = ga.second - c.second, h01 = gb.first - c.first,
                 h11 = gb.second - c.second;
    const double det = h00 * h11 - h01 * h10;
    return {(-c.first * h11 + c.second * h01) / det, (-c.second * h00 + c.first * h10) / det};
}

/// Pairs (fake ~ N(0, 1), real ~ N(2, 0.5^2)), each repeated on a midpoint grid of `nodes`
/// interpolation times: rows (fake, real, t), so a loss averages over t exactly per pair.
struct GridPairs {
    Tensor fake, real, t;
};
GridPairs grid_pairs(int64_t pairs, int64_t nodes) {
    Generator gen(5);
    const Tensor f = Tensor::normal({pairs}, gen), r = Tensor::normal({pairs}, gen, 2.f, 0.5f);
    std::vector<float> fv = vec(f), rv = vec(r), fake, real, t;
    for (int64_t i = 0; i < pairs; ++i)
        for (int64_t k = 0; k < nodes; ++k) {
            fake.push_back(fv[i]);
            real.push_back(rv[i]);
            t.push_back((k + 0.5f) / nodes);
        }
    const int64_t n = pairs * nodes;
    return {Tensor::from_vector(fake, {n, 1}), Tensor::from_vector(real, {n, 1}), Tensor::from_vector(t, {n})};
}

}  // namespace

TEST_CASE("critics: shapes, clear errors, and second-order checks through the whole critic") {
    Generator gen(1);
    nn::MLPCriticConfig mc;
    mc.in_dim = 3;
    mc.hidden = {5, 4};
    for (bool ln : {false, true}) {
        mc.layer_norm = ln;
        nn::MLPCritic critic(mc, gen);
        const Tensor x = rand_tensor({4, 3}, 2);
        CHECK(critic.forward(x).shape() == Shape{4});
        CHECK_THROWS_AS(critic.forward(rand_tensor({4, 2}, 3)), Error);
        // the module's parameters are passed as inputs: they are perturbed in place, so the check
        // covers d/dW of ||d/dx D||, the path the penalty's double backward takes
        V inputs{x};
        for (const Tensor& p : critic.parameters()) inputs.push_back(p);
        auto f = [&](const V& in) { return critic.forward(in[0]); };
        auto r1 = check_grad(f, inputs);
        CHECK_MESSAGE(r1.ok, r1.report);
        auto r2 = check_grad2(f, inputs);
        CHECK_MESSAGE(r2.ok, r2.report);
    }
    nn::ConvCriticConfig cc;
    cc.image_size = 6;
    cc.base_channels = 2;
    cc.levels = 1;
    nn::ConvCritic conv(cc, gen);
    const Tensor img = rand_tensor({2, 1, 6, 6}, 4);
    CHECK(conv.forward(img).shape() == Shape{2});
    CHECK_THROWS_AS(conv.forward(rand_tensor({2, 1, 5, 5}, 5)), Error);
    V inputs{img};
    for (const Tensor& p : conv.parameters()) inputs.push_back(p);
    auto f = [&](const V& in) { return conv.forward(in[0]); };
    auto r2 = check_grad2(f, inputs);
    CHECK_MESSAGE(r2.ok, r2.report);
}

TEST_CASE("the whole critic loss (gap + penalty, several forwards in one graph): parameter gradients match finite differences") {
    // the trainer's critic step differentiates D(fake), D(real) and ||grad D(x_t)|| together;
    // each activation the GAN command offers, ReLU (the WGAN-GP default) included
    for (const char* act : {"relu", "silu"})
        for (const char* loss : {"wgan-gp", "zero-centered"}) {
            CAPTURE(act);
            CAPTURE(loss);
            Generator gen(21);
            nn::MLPCriticConfig mc;
            mc.in_dim = 2;
            mc.hidden = {6, 5};
            mc.activation = act;
            nn::MLPCritic critic(mc, gen);
            const Tensor real = rand_tensor({8, 2}, 22), fake = rand_tensor({8, 2}, 23);
            const Tensor t = Tensor::uniform({8}, gen);
            auto f = [&](const V&) { return nn::critic_loss(loss, critic, real, fake, t).total; };
            auto r = check_grad(f, critic.parameters());
            CHECK_MESSAGE(r.ok, r.report);
            // the trainer's path, backward() into .grad, accumulates exactly that gradient
            const std::vector<Tensor> params = critic.parameters();
            const std::vector<Tensor> expected = grad({f({})}, params);
            for (Tensor p : params) p.zero_grad();
            f({}).backward();
            for (size_t k = 0; k < params.size(); ++k) CHECK(max_abs_diff(params[k].grad(), expected[k]) < 1e-6);
        }
}

TEST_CASE("gradient penalties match hand-computed values: one t per sample, norm over all dimensions") {
    // two 1x2x2 images per side; D = 1/2 ||x||^2, so grad D(x_t) = x_t
    const std::vector<float> rv{1, 2, 3, 4, -1, 0, 2, 1}, fv{0, 1, -1, 2, 3, 1, 0, -2}, tv{0.25f, 0.75f};
    const Tensor real = Tensor::from_vector(rv, {2, 1, 2, 2}), fake = Tensor::from_vector(fv, {2, 1, 2, 2});
    const Tensor t = Tensor::from_vector(tv, {2});
    HalfSquareCritic d;
    double gp = 0, gp_per_pixel = 0, zc = 0, gap = 0;
    for (int i = 0; i < 2; ++i) {
        double sq = 0;
        for (int j = 0; j < 4; ++j) {
            const double xt = tv[i] * rv[4 * i + j] + (1 - tv[i]) * fv[4 * i + j];
            sq += xt * xt;
            gp_per_pixel += (std::fabs(xt) - 1) * (std::fabs(xt) - 1) / 8;  // the common mistake
            gap += 0.5 * (fv[4 * i + j] * fv[4 * i + j] - rv[4 * i + j] * rv[4 * i + j]) / 2;
        }
        gp += (std::sqrt(sq) - 1) * (std::sqrt(sq) - 1) / 2;
        zc += 0.5 * sq / 2;
    }
    nn::CriticLoss w = nn::critic_loss("wgan-gp", d, real, fake, t);
    CHECK(w.penalty.item() == doctest::Approx(10 * gp).epsilon(1e-5));
    CHECK(std::fabs(10 * gp - 10 * gp_per_pixel) > 1.0);  // the per-pixel norm would be caught
    CHECK(w.wasserstein_gap.item() == doctest::Approx(gap).epsilon(1e-5));
    CHECK(w.total.item() == doctest::Approx(gap + 10 * gp).epsilon(1e-5));
    nn::CriticLoss z = nn::critic_loss("zero-centered", d, real, fake, t);
    CHECK(z.penalty.item() == doctest::Approx(zc).epsilon(1e-5));
    CHECK(nn::input_gradient_norms(d, real).shape() == Shape{2});

    // the random form draws exactly one t per sample (N words) and equals the explicit form
    Generator g1(9), g2(9);
    nn::CriticLoss drawn = nn::critic_loss("wgan-gp", d, real, fake, g1);
    const Tensor t2 = Tensor::uniform({2}, g2);
    CHECK(g1 == g2);
    CHECK(drawn.total.item() == doctest::Approx(nn::critic_loss("wgan-gp", d, real, fake, t2).total.item()));
    // a per-element t (one per pixel) gives another value on this data
    Generator g3(9);
    const Tensor t_el = Tensor::uniform({2, 1, 2, 2}, g3);
    const Tensor xt_el = add(mul(t_el, real), mul(rsub(t_el, 1.f), fake));
    const Tensor per_el = mul(mean(square(add(nn::input_gradient_norms(d, xt_el), -1.f))), 10.f);
    CHECK(std::fabs(per_el.item() - drawn.penalty.item()) > 1e-3);

    CHECK_THROWS_AS(nn::critic_loss("wgan", d, real, fake, t), Error);
    CHECK_THROWS_AS(nn::critic_loss("wgan-gp", d, real, fake, Tensor::zeros({2, 4})), Error);
}

TEST_CASE("SPEC 1.h.1: the mean over t of <grad D(x_t), x1 - x0> is D(x1) - D(x0)") {
    Generator gen(3);
    nn::MLPCriticConfig mc;
    mc.in_dim = 3;
    mc.hidden = {16, 16};
    nn::MLPCritic d(mc, gen);
    const int64_t pairs = 3, nodes = 2000;
    const Tensor x0 = rand_tensor({pairs, 3}, 6, -2.f, 2.f), x1 = rand_tensor({pairs, 3}, 7, -2.f, 2.f);
    const std::vector<float> a = vec(x0), b = vec(x1);
    const std::vector<float> ends0 = vec(d.forward(x0)), ends1 = vec(d.forward(x1));
    for (int64_t i = 0; i < pairs; ++i) {
        std::vector<float> pts;
        for (int64_t k = 0; k < nodes; ++k) {
            const float t = (k + 0.5f) / nodes;
            for (int j = 0; j < 3; ++j) pts.push_back((1 - t) * a[3 * i + j] + t * b[3 * i + j]);
        }
        const std::vector<float> g = vec(nn::input_gradient(d, Tensor::from_vector(pts, {nodes, 3})));
        double integral = 0;
        for (int64_t k = 0; k < nodes; ++k)
            for (int j = 0; j < 3; ++j) integral += g[3 * k + j] * (b[3 * i + j] - a[3 * i + j]) / nodes;
        const double diff = ends1[i] - ends0[i];
        CHECK(integral == doctest::Approx(diff).epsilon(1e-4).scale(1.0));
    }
}

TEST_CASE("SPEC 1.h.2 and 1.h.4: zero-centred critic = least squares of x1 - x0; weight lambda scales it by 1/(2 lambda)") {
    const GridPairs p = grid_pairs(400, 64);
    auto loss_with = [&](float weight) {
        return [&p, weight](QuadraticCritic& d) {
            nn::CriticLossOptions o;
            o.zero_weight = weight;
            return nn::critic_loss("zero-centered", d, p.real, p.fake, p.t, o).total;
        };
    };
    const auto [a, b] = quadratic_minimiser(loss_with(0.5f));
    // least-squares fit of y = x1 - x0 on [x_t, 1] over every (pair, node)
    const std::vector<float> f = vec(p.fake), r = vec(p.real), t = vec(p.t);
    double sxx = 0, sx = 0, s1 = 0, sxy = 0, sy = 0;
    for (size_t i = 0; i < f.size(); ++i) {
        const double xt = (1 - t[i]) * f[i] + t[i] * r[i], y = r[i] - f[i];
        sxx += xt * xt, sx += xt, s1 += 1, sxy += xt * y, sy += y;
    }
    const double det = sxx * s1 - sx * sx;
    const double a_ls = (sxy * s1 - sx * sy) / det, b_ls = (sxx * sy - sx * sxy) / det;
    CHECK(a == doctest::Approx(a_ls).epsilon(2e-3));
    CHECK(b == doctest::Approx(b_ls).epsilon(2e-3));
    CHECK(std::fabs(b_ls) > 0.5);  // a non-trivial fit (the means differ by 2)

    const float lambda = 3.f;
    const auto [al, bl] = quadratic_minimiser(loss_with(lambda));
    CHECK(al == doctest::Approx(a / (2 * lambda)).epsilon(2e-3));
    CHECK(bl == doctest::Approx(b / (2 * lambda)).epsilon(2e-3));
}

TEST_CASE("SPEC 1.h.3: the regression step's gradient at theta_tau is 2 eps grad(-D(g(z)))") {
    Generator gen(11);
    nn::MLP g(2, {8}, 2, gen);
    nn::MLPCriticConfig mc;
    mc.hidden = {8, 8};
    nn::MLPCritic d(mc, gen);
    const Tensor z = Tensor::normal({16, 2}, gen);
    const float eps = 0.1f;
    const std::vector<Tensor> params = g.parameters();
    Tensor out = g.forward(z);
    const Tensor target = add(out.detach(), mul(nn::input_gradient(d, out.detach()).detach(), eps));
    const std::vector<Tensor> reg = grad({nn::generator_regression_loss(out, target)}, params);
    const std::vector<Tensor> adv = grad({nn::generator_loss(d, g.forward(z))}, params);
    double scale = 0;
    for (size_t i = 0; i < params.size(); ++i) {
        CHECK(max_abs_diff(reg[i], mul(adv[i], 2 * eps)) < 1e-5);
        scale = std::max(scale, static_cast<double>(max(abs(adv[i])).item()));
    }
    CHECK(scale > 1e-3);  // the gradients are not trivially zero
}

namespace {

// A 1-D Gaussian generator x = w z + c trained against N(2, 0.5^2): (mean, std) = (c, |w|).
std::pair<float, float> train_gaussian(const std::string& method, int64_t steps, float lr = 1e-2f) {
    Generator init(21);
    nn::Linear g(1, 1, init);
    g.weight().fill_(1.f);
    g.bias().fill_(0.f);
    trainers::GANConfig cfg;
    cfg.method = method;
    cfg.steps = steps;
    cfg.batch = 256;
    cfg.latent_shape = {1};
    cfg.n_critic = 5;
    cfg.seed = 3;
    auto data = [](int64_t n, Generator& gen) { return Tensor::normal({n, 1}, gen, 2.f, 0.5f); };
    optim::AdamOptions go;
    go.lr = lr;
    go.beta1 = 0.5f;
    go.beta2 = 0.9f;
    optim::Adam gopt(g.parameters(), go);
    optim::AdamOptions co = go;
    co.lr = lr;
    if (method == "reflow-gan") {
        nn::VelocityMLPConfig vc;
        vc.data_dim = 1;
        vc.hidden = 32;
        vc.depth = 2;
        nn::VelocityMLP field(vc, init);
        optim::Adam copt(field.parameters(), co);
        cfg.epsilon = 0.5f;
        trainers::GANTrainer trainer(g, field, gopt, copt, data, cfg);
        trainer.train();
    } else {
        nn::MLPCriticConfig mc;
        mc.in_dim = 1;
        mc.hidden = {32, 32};
        nn::MLPCritic critic(mc, init);
        optim::Adam copt(critic.parameters(), co);
        trainers::GANTrainer trainer(g, critic, gopt, copt, data, cfg);
        trainer.train();
    }
    return {g.bias().item(), std::fabs(g.weight().item())};
}

}  // namespace

TEST_CASE("SPEC 1.h.5: a 1-D Gaussian generator moves (mean, std) toward the data's") {
    // variant B (zero-centred penalty) reaches both moments
    const auto [mb, sb] = train_gaussian("zero-centered", 300);
    CHECK(mb == doctest::Approx(2.f).epsilon(0.05));
    CHECK(sb == doctest::Approx(0.5f).epsilon(0.1));
    // variant A reaches the mean; with independent pairs its field at t = 0 is E[x1] - x, which
    // says nothing about the spread, so the std contracts (docs/gan-results.md)
    const auto [ma, sa] = train_gaussian("reflow-gan", 300);
    CHECK(ma == doctest::Approx(2.f).epsilon(0.05));
    MESSAGE("reflow-gan (variant A): mean " << ma << ", std " << sa);
    // WGAN-GP moves toward the data too (its one-centred critic keeps pushing: it overshoots later)
    const auto [mw, sw] = train_gaussian("wgan-gp", 300, 3e-3f);
    CHECK(mw > 0.5f);
    CHECK(mw < 2.5f);
    MESSAGE("wgan-gp: mean " << mw << ", std " << sw);
}

namespace {

// A GAN trainer on fresh networks (initialised from another seed) restored from `c` and run
// `steps` more generator steps; returns result(generator, trainer).
template <class Data, class F>
auto continue_from(const io::Checkpoint& c, const nn::MLPCriticConfig& mc, Data data, const trainers::GANConfig& cfg,
                   int64_t steps, F result) {
    Generator init(99);
    nn::MLP g(2, {8}, 2, init);
    nn::MLPCritic d(mc, init);
    optim::Adam gopt(g.parameters()), copt(d.parameters());
    trainers::GANTrainer t(g, d, gopt, copt, data, cfg);
    t.restore(c);
    for (int64_t i = 0; i < steps; ++i) t.step();
    return result(g, t);
}

}  // namespace

TEST_CASE("GAN trainer: checkpoints resume bit for bit, wrong critic kinds and non-finite losses are clear errors") {
    auto data = [](int64_t n, Generator& gen) { return Tensor::normal({n, 2}, gen, 1.f, 0.5f); };
    auto run = [&](int64_t first, int64_t second, bool via_checkpoint) {
        Generator init(4);
        nn::MLP g(2, {8}, 2, init);
        nn::MLPCriticConfig mc;
        mc.hidden = {8};
        nn::MLPCritic d(mc, init);
        optim::Adam gopt(g.parameters()), copt(d.parameters());
        trainers::GANConfig cfg;
        cfg.method = "zero-centered";
        cfg.batch = 32;
        cfg.n_critic = 2;
        trainers::GANTrainer t(g, d, gopt, copt, data, cfg);
        for (int64_t i = 0; i < first; ++i) t.step();
        if (via_checkpoint)
            return continue_from(t.checkpoint(), mc, data, cfg, second,
                                 [](nn::MLP& g2, trainers::GANTrainer&) { return g2.state_dict(); });
        for (int64_t i = 0; i < second; ++i) t.step();
        return g.state_dict();
    };
    const auto straight = run(6, 4, false), resumed = run(6, 4, true);
    REQUIRE(straight.size() == resumed.size());
    for (size_t i = 0; i < straight.size(); ++i) CHECK(max_abs_diff(straight[i].second, resumed[i].second) == 0.0);

    Generator init(4);
    nn::MLP g(2, {8}, 2, init);
    nn::MLPCriticConfig mc;
    nn::MLPCritic d(mc, init);
    optim::Adam gopt(g.parameters()), copt(d.parameters());
    trainers::GANConfig cfg;
    cfg.method = "reflow-gan";
    CHECK_THROWS_AS(trainers::GANTrainer(g, d, gopt, copt, data, cfg), Error);  // needs v(x, t)
    cfg.method = "wgan";
    CHECK_THROWS_AS(trainers::GANTrainer(g, d, gopt, copt, data, cfg), Error);
    cfg.method = "wgan-gp";
    cfg.batch = 8;
    auto bad = [](int64_t n, Generator&) { return Tensor::full({n, 2}, std::nanf("")); };
    trainers::GANTrainer t(g, d, gopt, copt, bad, cfg);
    const Tensor before = d.parameters()[0].clone();
    CHECK_THROWS_WITH_AS(t.step(), doctest::Contains("non-finite critic loss"), Error);
    CHECK(max_abs_diff(before, d.parameters()[0]) == 0.0);  // the critic kept its weights
    // a finite loss with a non-finite gradient: D(x) = sum sqrt|w x| at real x = 0 is 0, but its
    // derivative in w there is 0 / 0
    SqrtCritic sq;
    optim::Adam sopt(sq.parameters());
    auto zeros = [](int64_t n, Generator&) { return Tensor::zeros({n, 2}); };
    trainers::GANTrainer t2(g, sq, gopt, sopt, zeros, cfg);
    CHECK_THROWS_WITH_AS(t2.step(), doctest::Contains("non-finite critic gradient"), Error);
    CHECK(sq.w_.item() == 1.f);

    // a checkpoint missing the critic names the part and the key
    io::Checkpoint c = t.checkpoint();
    io::Checkpoint no_critic = c;
    no_critic.model = io::strip_prefix(c.model, "generator.");
    io::Checkpoint renamed;
    io::append_prefixed(renamed.model, "generator.", no_critic.model);
    renamed.optimizer = c.optimizer;
    CHECK_THROWS_WITH_AS(t.restore(renamed), doctest::Contains("critic weights"), Error);
}

TEST_CASE("GAN trainer with a generator EMA: samples use the average, training weights stay, resume is bit for bit") {
    auto data = [](int64_t n, Generator& gen) { return Tensor::normal({n, 2}, gen, 1.f, 0.5f); };
    trainers::GANConfig cfg;
    cfg.method = "wgan-gp";
    cfg.batch = 16;
    cfg.n_critic = 2;
    cfg.ema_decay = 0.9f;
    nn::MLPCriticConfig mc;
    mc.hidden = {8};
    auto run = [&](int64_t first, int64_t second, bool via_checkpoint) {
        Generator init(4);
        nn::MLP g(2, {8}, 2, init);
        nn::MLPCritic d(mc, init);
        optim::Adam gopt(g.parameters()), copt(d.parameters());
        trainers::GANTrainer t(g, d, gopt, copt, data, cfg);
        for (int64_t i = 0; i < first; ++i) t.step();
        if (!via_checkpoint) {
            for (int64_t i = 0; i < second; ++i) t.step();
            Generator s(7);
            return t.sample(5, s);
        }
        return continue_from(t.checkpoint(), mc, data, cfg, second, [](nn::MLP&, trainers::GANTrainer& t2) {
            Generator s(7);
            return t2.sample(5, s);
        });
    };
    CHECK(max_abs_diff(run(5, 4, false), run(5, 4, true)) == 0.0);

    // sample() = the generator with the EMA's weights, and the training weights are put back
    Generator init(4);
    nn::MLP g(2, {8}, 2, init);
    nn::MLPCritic d(mc, init);
    optim::Adam gopt(g.parameters()), copt(d.parameters());
    trainers::GANTrainer t(g, d, gopt, copt, data, cfg);
    for (int i = 0; i < 6; ++i) t.step();
    REQUIRE(t.ema() != nullptr);
    CHECK(t.ema()->num_updates() == 6);
    const auto before = g.state_dict();
    Generator s1(7), s2(7);
    const Tensor sampled = t.sample(5, s1);
    for (size_t i = 0; i < before.size(); ++i) CHECK(max_abs_diff(before[i].second, g.state_dict()[i].second) == 0.0);
    Generator init2(5);
    nn::MLP averaged(2, {8}, 2, init2);
    std::vector<Tensor> ap = averaged.parameters();
    t.ema()->copy_to(ap);
    Tensor z = Tensor::normal({5, 2}, s2);
    Tensor expected;
    {
        NoGradGuard ng;
        expected = averaged.forward(z);
    }
    CHECK(max_abs_diff(sampled, expected) < 1e-6);
    CHECK(max_abs_diff(sampled, g.forward(z)) > 1e-4);  // the raw generator differs

    // a checkpoint without the EMA cannot resume a run that keeps one, and says which part
    trainers::GANConfig plain = cfg;
    plain.ema_decay = 0.f;
    trainers::GANTrainer t_plain(g, d, gopt, copt, data, plain);
    CHECK_THROWS_WITH_AS(t.restore(t_plain.checkpoint()), doctest::Contains("generator EMA"), Error);
    cfg.ema_decay = 1.f;
    CHECK_THROWS_AS(trainers::GANTrainer(g, d, gopt, copt, data, cfg), Error);
}

TEST_CASE("adversarial distillation term: trains its critic, adds -w E[D(G(z))] and reaches the student") {
    Generator init(8);
    nn::VelocityMLPConfig vc;
    vc.hidden = 16;
    vc.depth = 2;
    nn::VelocityMLP student(vc, init);
    nn::MLPCriticConfig mc;
    mc.hidden = {16};
    nn::MLPCritic critic(mc, init);
    optim::Adam copt(critic.parameters());
    auto data = [](int64_t n, Generator& gen) { return Tensor::normal({n, 2}, gen, 1.f, 0.3f); };
    trainers::AdversarialOptions o;
    o.weight = 0.5f;
    o.k = 2;
    trainers::AdversarialTerm term(student, critic, copt, data, o);
    Generator g(1);
    trainers::TrainingBatch b{Tensor::normal({32, 2}, g), Tensor::normal({32, 2}, g), {}};
    const Tensor w0 = critic.parameters()[0].clone();
    Tensor loss = term(b);
    CHECK(max_abs_diff(w0, critic.parameters()[0]) > 0);  // the critic stepped
    // the value is -w E[D(G(z))] with the stepped critic
    {
        NoGradGuard ng;
        const Tensor expect = mul(neg(mean(critic.forward(trainers::euler_map(student, b.x0, 2)))), 0.5f);
        CHECK(loss.item() == doctest::Approx(expect.item()).epsilon(1e-5));
    }
    // and its gradient reaches the student's weights
    std::vector<Tensor> params = student.parameters();
    const std::vector<Tensor> grads = grad({loss}, params);
    double norm = 0;
    for (const Tensor& gr : grads) norm += sum(square(gr)).item();
    CHECK(norm > 0);

    // hooked into the flow-matching trainer, the step's loss includes the term
    optim::Adam sopt(student.parameters());
    trainers::FlowMatchingConfig fc;
    fc.batch = 32;
    fc.time_sampler = "grid";
    fc.time_options.grid_steps = 2;
    trainers::FlowMatchingTrainer trainer(student, sopt, trainers::stored_pairs(b.x0, b.x1), fc);
    trainer.set_extra_loss(std::ref(term));
    // a twin trainer without the term, same seed and weights: the step's loss differs by the
    // term's value (computed by the term before the student moves)
    nn::VelocityMLP twin(vc, init);
    twin.load_state_dict(student.state_dict());
    optim::Adam topt(twin.parameters());
    trainers::FlowMatchingTrainer plain(twin, topt, trainers::stored_pairs(b.x0, b.x1), fc);
    float expected_term = 0;
    trainer.set_extra_loss([&](const trainers::TrainingBatch& batch) {
        Tensor v = term(batch);
        expected_term = v.item();
        return v;
    });
    const float total = trainer.step();
    const float fm_only = plain.step();
    CHECK(total == doctest::Approx(fm_only + expected_term).epsilon(1e-5));
    CHECK(std::fabs(expected_term) > 0);
    o.weight = -1.f;
    CHECK_THROWS_AS(trainers::AdversarialTerm(student, critic, copt, data, o), Error);
}
