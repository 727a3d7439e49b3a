// Cross-backend op test (after ggml's test-backend-ops): every op of the shared op lists, forward
// and backward, on the CPU and on CUDA, compared within float tolerance; the backend entries over
// sweeps of shapes with odd sizes (element-wise with broadcasting, every reduction axis set, GEMM
// layouts, softmax and norms, convolutions, attention, gather/scatter, random fills); and the
// finite-difference gradient checks, first and second order, with the computation on CUDA.
//
// Needs a GPU. Without one the cases skip with a message, except under RFLOW_EMULATE_CUDA=1
// (meson sets it for this test): the CUDA device is then served by the CPU kernels, which runs this
// harness end to end but compares the CPU with itself; only a GPU run tests the CUDA kernels.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <rflow/attention_ops.hpp>
#include <rflow/autograd.hpp>
#include <rflow/conv_ops.hpp>
#include <rflow/ops.hpp>
#include <sstream>

#include "gradcheck.hpp"
#include "op_cases.hpp"

using namespace rflow;
using rflow::testing::OpCase;
using rflow::testing::rand_tensor;
using V = std::vector<Tensor>;

namespace {

bool have_device() {
    static const bool ok = [] {
        if (!cuda_available()) {
            MESSAGE("no CUDA device: cross-backend cases skipped");
            return false;
        }
        if (cuda_emulated()) MESSAGE("RFLOW_EMULATE_CUDA: the CUDA side runs the CPU kernels (harness check only)");
        return true;
    }();
    return ok;
}

/// max |a - b| <= atol + rtol max |b|, with a message naming the worst element.
void check_close(const Tensor& a, const Tensor& b, double atol, double rtol, const std::string& what) {
    REQUIRE_MESSAGE(a.shape() == b.shape(), what << ": shapes " << shape_str(a.shape()) << " vs " << shape_str(b.shape()));
    const std::vector<float> va = a.to_vector(), vb = b.to_vector();
    double scale = 0, worst = 0;
    size_t at = 0;
    for (float x : vb) scale = std::max(scale, static_cast<double>(std::fabs(x)));
    bool finite = true;
    for (size_t i = 0; i < va.size(); ++i) {
        if (std::isfinite(va[i]) != std::isfinite(vb[i])) finite = false;
        const double d = std::fabs(static_cast<double>(va[i]) - vb[i]);
        if (d > worst) worst = d, at = i;
    }
    CHECK_MESSAGE(finite, what << ": finiteness differs");
    CHECK_MESSAGE(worst <= atol + rtol * scale, what << ": max |cuda - cpu| = " << worst << " at element " << at
                                                     << " (cuda " << va[at] << ", cpu " << vb[at] << "), scale "
                                                     << scale);
}

/// Runs f on copies of the inputs on `d`: the output and the gradients of sum(w * f) (w fixed).
struct Run {
    Tensor out;
    V grads;
};
Run run_on(Device d, const rflow::testing::Fn& f, const V& inputs) {
    V vars;
    for (const Tensor& t : inputs) {
        Tensor v = t.detach().to(d).clone().detach();
        v.requires_grad_(true);
        vars.push_back(v);
    }
    Run r;
    r.out = f(vars);
    const Tensor w = rand_tensor(r.out.shape(), 4242).to(d);
    V g = grad({sum(mul(r.out, w))}, vars, {}, false, true);
    for (Tensor& t : g) t = t.defined() ? t.to(Device::cpu) : t;
    r.out = r.out.detach().to(Device::cpu);
    r.grads = g;
    return r;
}

void compare_case(const OpCase& c, double tol) {
    const Run cpu = run_on(Device::cpu, c.f, c.inputs);
    const Run gpu = run_on(Device::cuda, c.f, c.inputs);
    check_close(gpu.out, cpu.out, tol, tol, c.name + " forward");
    for (size_t i = 0; i < cpu.grads.size(); ++i) {
        if (!cpu.grads[i].defined()) continue;
        REQUIRE(gpu.grads[i].defined());
        check_close(gpu.grads[i], cpu.grads[i], tol, tol, c.name + " d/d input " + std::to_string(i));
    }
}

/// f with its inputs moved to CUDA and its output back: finite differences perturb CPU copies while
/// every op runs on the GPU (`to` is differentiable, so double backward crosses it too).
rflow::testing::Fn on_cuda(const rflow::testing::Fn& f) {
    return [f](const V& x) {
        V d;
        for (const Tensor& t : x) d.push_back(t.to(Device::cuda));
        return f(d).to(Device::cpu);
    };
}

}  // namespace

TEST_CASE("every op: forward and backward on CUDA equal the CPU (core, image, attention ops)") {
    if (!have_device()) return;
    int n = 0;
    for (const OpCase& c : rflow::testing::core_op_cases()) compare_case(c, 1e-5), ++n;
    for (const OpCase& c : rflow::testing::image_op_cases()) compare_case(c, 1e-5), ++n;
    for (const OpCase& c : rflow::testing::attention_op_cases()) compare_case(c, 1e-5), ++n;
    CHECK(n >= 90);
}

TEST_CASE("finite-difference gradient checks with the computation on CUDA (first and second order)") {
    if (!have_device()) return;
    for (const OpCase& c : rflow::testing::core_op_cases()) {
        CAPTURE(c.name);
        auto r = rflow::testing::check_grad(on_cuda(c.f), c.inputs);
        INFO(r.report);
        CHECK(r.ok);
        if (c.second_order) {
            auto r2 = rflow::testing::check_grad2(on_cuda(c.f), c.inputs);
            INFO(r2.report);
            CHECK(r2.ok);
        }
    }
    for (const OpCase& c : rflow::testing::image_op_cases()) {
        CAPTURE(c.name);
        CHECK(rflow::testing::check_grad(on_cuda(c.f), c.inputs, 1e-2f).ok);
        if (c.second_order) CHECK(rflow::testing::check_grad2(on_cuda(c.f), c.inputs, 1e-2f).ok);
    }
    for (const OpCase& c : rflow::testing::attention_op_cases()) {
        CAPTURE(c.name);
        CHECK(rflow::testing::check_grad(on_cuda(c.f), c.inputs).ok);
        if (c.second_order) CHECK(rflow::testing::check_grad2(on_cuda(c.f), c.inputs).ok);
    }
}

TEST_CASE("element-wise ops over odd shapes, broadcasts and strided views") {
    if (!have_device()) return;
    const std::vector<std::pair<Shape, Shape>> shapes = {
        {{1}, {1}}, {{7}, {7}}, {{257}, {1}}, {{3, 5}, {5}}, {{3, 1}, {1, 7}}, {{2, 3, 33}, {3, 1}},
        {{4, 1, 5, 2}, {3, 1, 1}}, {{1000003}, {1000003}}, {{5, 6, 7, 8, 9}, {7, 1, 9}}};
    uint64_t seed = 1;
    for (const auto& [sa, sb] : shapes) {
        const Tensor a = rand_tensor(sa, ++seed, -2.f, 2.f), b = rand_tensor(sb, ++seed, 0.5f, 2.f);
        const std::string tag = shape_str(sa) + " with " + shape_str(sb);
        const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&, const Tensor&)>>> ops = {
            {"add", [](const Tensor& x, const Tensor& y) { return add(x, y); }},
            {"sub", [](const Tensor& x, const Tensor& y) { return sub(x, y); }},
            {"mul", [](const Tensor& x, const Tensor& y) { return mul(x, y); }},
            {"div", [](const Tensor& x, const Tensor& y) { return div(x, y); }},
            {"maximum", [](const Tensor& x, const Tensor& y) { return maximum(x, y); }},
            {"gt", [](const Tensor& x, const Tensor& y) { return gt(x, y); }},
            {"where", [](const Tensor& x, const Tensor& y) { return where(gt(x, 0.f), x, y); }},
        };
        for (const auto& [name, op] : ops)
            check_close(op(a.to(Device::cuda), b.to(Device::cuda)), op(a, b), 1e-6, 1e-6, name + " " + tag);
    }
    // every unary function on one odd-sized tensor, and on a transposed (strided) view
    const Tensor x = rand_tensor({37, 29}, 99, -3.f, 3.f), xp = rand_tensor({37, 29}, 98, 0.1f, 3.f);
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> un = {
        {"neg", [](const Tensor& t) { return neg(t); }},       {"exp", [](const Tensor& t) { return exp(t); }},
        {"abs", [](const Tensor& t) { return abs(t); }},       {"relu", [](const Tensor& t) { return relu(t); }},
        {"silu", [](const Tensor& t) { return silu(t); }},     {"gelu", [](const Tensor& t) { return gelu(t); }},
        {"tanh", [](const Tensor& t) { return tanh(t); }},     {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
        {"softplus", [](const Tensor& t) { return softplus(t); }}, {"sin", [](const Tensor& t) { return sin(t); }},
        {"cos", [](const Tensor& t) { return cos(t); }},       {"square", [](const Tensor& t) { return square(t); }},
        {"clamp", [](const Tensor& t) { return clamp(t, -1.f, 0.5f); }},
        {"pow 2.5", [](const Tensor& t) { return pow(abs(t), 2.5f); }}};
    for (const auto& [name, op] : un) {
        check_close(op(x.to(Device::cuda)), op(x), 1e-5, 1e-5, name);
        check_close(op(x.to(Device::cuda).t()), op(x.t()), 1e-5, 1e-5, name + " strided");
    }
    for (const auto& [name, op] : std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>>{
             {"log", [](const Tensor& t) { return log(t); }},
             {"sqrt", [](const Tensor& t) { return sqrt(t); }},
             {"rsqrt", [](const Tensor& t) { return rsqrt(t); }}})
        check_close(op(xp.to(Device::cuda)), op(xp), 1e-5, 1e-5, name);
    // copies between strided views (permute, slice with step, expand)
    const Tensor y = rand_tensor({4, 5, 6}, 97);
    check_close(y.to(Device::cuda).permute({2, 0, 1}).contiguous(), y.permute({2, 0, 1}).contiguous(), 0, 0, "permute");
    check_close(y.to(Device::cuda).slice(2, 1, 6, 2).contiguous(), y.slice(2, 1, 6, 2).contiguous(), 0, 0, "slice");
}

TEST_CASE("special values (NaN, inf, -0) and views of more dimensions than a kernel indexes") {
    if (!have_device()) return;
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const Tensor x = Tensor::from_vector({nan, inf, -inf, -0.f, 0.f, 1.f, -1.f, 1e-30f}, {8});
    const Tensor d = x.to(Device::cuda);
    for (const auto& [name, f] : std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>>{
             {"relu", [](const Tensor& t) { return relu(t); }},
             {"abs", [](const Tensor& t) { return abs(t); }},
             {"clamp", [](const Tensor& t) { return clamp(t, -2.f, 2.f); }},
             {"maximum", [](const Tensor& t) { return maximum(t, Tensor::scalar(0.5f, t.device())); }},
             {"minimum", [](const Tensor& t) { return minimum(t, Tensor::scalar(0.5f, t.device())); }},
             {"tanh", [](const Tensor& t) { return tanh(t); }},
             {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
             {"softplus", [](const Tensor& t) { return softplus(t); }},
             {"max", [](const Tensor& t) { return max(t.reshape({2, 4}), {1}); }},
             {"max leading", [](const Tensor& t) { return max(t.reshape({2, 4}), {0}); }}})
        check_close(f(d), f(x), 1e-6, 1e-6, name + " of NaN, inf, -0");
    // 9 dimensions, none mergeable: the copy splits along the first
    const Tensor big = rand_tensor({2, 2, 2, 2, 2, 2, 2, 2, 3}, 77);
    std::vector<int64_t> perm{8, 7, 6, 5, 4, 3, 2, 1, 0};
    check_close(big.to(Device::cuda).permute(perm).contiguous(), big.permute(perm).contiguous(), 0, 0, "rank-9 permute");
    check_close(sum(Tensor::zeros({2, 0, 3}, Device::cuda), {1}), sum(Tensor::zeros({2, 0, 3}), {1}), 0, 0, "empty sum");
}

TEST_CASE("reductions over every set of axes, and long rows") {
    if (!have_device()) return;
    const Tensor x = rand_tensor({5, 7, 9}, 5);
    for (int mask = 1; mask < 8; ++mask) {
        std::vector<int64_t> axes;
        for (int d = 0; d < 3; ++d)
            if (mask & (1 << d)) axes.push_back(d);
        std::ostringstream os;
        os << "axes mask " << mask;
        check_close(sum(x.to(Device::cuda), axes), sum(x, axes), 1e-5, 1e-5, "sum " + os.str());
        check_close(max(x.to(Device::cuda), axes), max(x, axes), 0, 0, "max " + os.str());
        check_close(sum(x.to(Device::cuda).permute({2, 0, 1}), axes), sum(x.permute({2, 0, 1}), axes), 1e-5, 1e-5,
                    "sum of a permuted view " + os.str());
    }
    const Tensor big = rand_tensor({3, 100003}, 6);
    check_close(sum(big.to(Device::cuda), {1}), sum(big, {1}), 1e-3, 1e-5, "sum of long rows");
    check_close(sum(big.to(Device::cuda), {0}), sum(big, {0}), 1e-5, 1e-5, "sum over leading rows");
    check_close(mean(big.to(Device::cuda)), mean(big), 1e-5, 1e-4, "mean of everything");
}

TEST_CASE("GEMM: odd sizes, transposed operands, batches and broadcasts") {
    if (!have_device()) return;
    uint64_t seed = 10;
    for (const auto& [m, k, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 1, 1}, {1, 7, 1}, {3, 5, 2}, {17, 33, 65}, {128, 1, 7}, {257, 129, 63}, {512, 512, 512}}) {
        const Tensor a = rand_tensor({m, k}, ++seed), b = rand_tensor({k, n}, ++seed);
        const Tensor at = rand_tensor({k, m}, ++seed), bt = rand_tensor({n, k}, ++seed);
        const double tol = 1e-5 * std::sqrt(static_cast<double>(k)) + 1e-6;
        const std::string tag = std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
        const Device c = Device::cuda;
        check_close(matmul(a.to(c), b.to(c)), matmul(a, b), tol, tol, "nn " + tag);
        check_close(matmul(at.to(c).t(), b.to(c)), matmul(at.t(), b), tol, tol, "tn " + tag);
        check_close(matmul(a.to(c), bt.to(c).t()), matmul(a, bt.t()), tol, tol, "nt " + tag);
        check_close(matmul(at.to(c).t(), bt.to(c).t()), matmul(at.t(), bt.t()), tol, tol, "tt " + tag);
        const Tensor ba = rand_tensor({3, m, k}, ++seed), bb = rand_tensor({3, k, n}, ++seed);
        check_close(matmul(ba.to(c), bb.to(c)), matmul(ba, bb), tol, tol, "batched " + tag);
        check_close(matmul(ba.to(c), b.to(c)), matmul(ba, b), tol, tol, "batch times one " + tag);
        check_close(linear(ba.to(c), bt.to(c), Tensor()), linear(ba, bt, Tensor()), tol, tol, "linear " + tag);
    }
}

TEST_CASE("softmax, log-softmax and layer norm over row lengths 1 to 4097") {
    if (!have_device()) return;
    uint64_t seed = 40;
    for (int64_t n : {1, 2, 31, 32, 33, 255, 1000, 4097}) {
        const Tensor x = rand_tensor({5, n}, ++seed, -4.f, 4.f);
        const std::string tag = "row length " + std::to_string(n);
        check_close(softmax(x.to(Device::cuda)), softmax(x), 1e-6, 1e-5, "softmax " + tag);
        check_close(log_softmax(x.to(Device::cuda)), log_softmax(x), 1e-5, 1e-5, "log_softmax " + tag);
        if (n > 1) check_close(layer_norm(x.to(Device::cuda)), layer_norm(x), 1e-4, 1e-5, "layer_norm " + tag);
        check_close(softmax(x.to(Device::cuda), 0), softmax(x, 0), 1e-6, 1e-5, "softmax over a strided axis " + tag);
    }
}

TEST_CASE("convolutions over every geometry, and group norm") {
    if (!have_device()) return;
    uint64_t seed = 200;
    for (const rflow::testing::ConvCase& c : rflow::testing::conv_cases()) {
        const std::string tag = rflow::testing::describe(c);
        const Tensor x = rand_tensor(c.x_shape(), ++seed), w = rand_tensor(c.w_shape(), ++seed),
                     b = rand_tensor({c.cout}, ++seed), y = rand_tensor(c.y_shape(), ++seed);
        const Device d = Device::cuda;
        check_close(conv2d(x.to(d), w.to(d), b.to(d), c.stride(), c.padding(), c.dilation(), c.groups),
                    conv2d(x, w, b, c.stride(), c.padding(), c.dilation(), c.groups), 1e-4, 1e-5, "conv2d " + tag);
        check_close(conv2d_input(y.to(d), w.to(d), c.x_shape(), c.stride(), c.padding(), c.dilation(), c.groups),
                    conv2d_input(y, w, c.x_shape(), c.stride(), c.padding(), c.dilation(), c.groups), 1e-4, 1e-5,
                    "conv2d_input " + tag);
        check_close(conv2d_weight(x.to(d), y.to(d), c.w_shape(), c.stride(), c.padding(), c.dilation(), c.groups),
                    conv2d_weight(x, y, c.w_shape(), c.stride(), c.padding(), c.dilation(), c.groups), 1e-4, 1e-5,
                    "conv2d_weight " + tag);
    }
    for (int64_t groups : {1, 2, 8}) {
        const Tensor x = rand_tensor({3, 8, 13, 11}, ++seed, -2.f, 3.f), w = rand_tensor({8}, ++seed),
                     b = rand_tensor({8}, ++seed);
        check_close(group_norm(x.to(Device::cuda), groups, w.to(Device::cuda), b.to(Device::cuda)),
                    group_norm(x, groups, w, b), 1e-4, 1e-5, "group_norm groups " + std::to_string(groups));
        check_close(group_norm_silu(x.to(Device::cuda), groups, w.to(Device::cuda), b.to(Device::cuda)),
                    group_norm_silu(x, groups, w, b), 1e-4, 1e-5, "group_norm_silu groups " + std::to_string(groups));
    }
    const Tensor img = rand_tensor({2, 3, 6, 10}, ++seed);
    check_close(avg_pool2d(img.to(Device::cuda), 2), avg_pool2d(img, 2), 1e-6, 1e-6, "avg_pool2d");
    check_close(upsample_nearest2d(img.to(Device::cuda), {3, 2}), upsample_nearest2d(img, {3, 2}), 0, 0, "upsample");
}

TEST_CASE("attention: odd lengths, head sizes, groups and causal offsets, forward and backward") {
    if (!have_device()) return;
    uint64_t seed = 300;
    for (const auto& [h, g, lq, lk, dk, dv] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>>{
             {1, 1, 1, 1, 1, 1}, {2, 1, 5, 7, 3, 4}, {4, 2, 65, 65, 32, 32}, {3, 3, 1, 130, 64, 16}, {8, 2, 200, 200, 80, 80},
             {2, 2, 9, 300, 128, 128}, {1, 1, 33, 33, 256, 256}}) {
        for (bool causal : {false, true}) {
            const OpCase c{"attention h" + std::to_string(h) + " g" + std::to_string(g) + " lq" + std::to_string(lq) +
                               " lk" + std::to_string(lk) + " d" + std::to_string(dk) + "/" + std::to_string(dv) +
                               (causal ? " causal" : ""),
                           [causal, dk](const V& x) {
                               return scaled_dot_product_attention(x[0], x[1], x[2],
                                                                   1.f / std::sqrt(static_cast<float>(dk)), causal);
                           },
                           {rand_tensor({2, h, lq, dk}, ++seed), rand_tensor({2, g, lk, dk}, ++seed),
                            rand_tensor({2, g, lk, dv}, ++seed)},
                           false};
            compare_case(c, 1e-4);
        }
    }
}

TEST_CASE("gather and scatter with repeated indices") {
    if (!have_device()) return;
    const Tensor x = rand_tensor({6, 5, 3}, 400);
    const std::vector<int64_t> idx{4, 0, 4, 2, 4, 1, 3};
    for (int64_t dim : {0, 1, 2}) {
        std::vector<int64_t> i;
        for (int64_t j : idx)
            if (j < x.size(dim)) i.push_back(j);
        check_close(index_select(x.to(Device::cuda), dim, i), index_select(x, dim, i), 0, 0, "index_select");
        const Tensor s = index_select(x, dim, i);
        check_close(index_add(x.shape(), dim, i, s.to(Device::cuda)), index_add(x.shape(), dim, i, s), 1e-6, 1e-6,
                    "index_add");
    }
}

TEST_CASE("Philox on CUDA gives the CPU's numbers for the same (seed, stream, offset)") {
    if (!have_device()) return;
    for (int64_t n : {1, 2, 3, 5, 1001, 65537}) {
        for (uint64_t skip : {0, 1, 3, 6}) {  // generators at odd positions (fills start block-aligned)
            Generator gc(1234, 7, skip), gd(1234, 7, skip);
            const Tensor u = Tensor::uniform({n}, gc, -2.f, 3.f), ud = Tensor::uniform({n}, gd, -2.f, 3.f, Device::cuda);
            check_close(ud, u, 0, 0, "uniform n " + std::to_string(n));  // bit-identical
            const Tensor z = Tensor::normal({n}, gc, 0.5f, 2.f), zd = Tensor::normal({n}, gd, 0.5f, 2.f, Device::cuda);
            check_close(zd, z, 1e-5, 1e-6, "normal n " + std::to_string(n));  // Box-Muller in double: ~1 ulp
            CHECK(gc == gd);
        }
    }
    Generator g1(9), g2(9);
    check_close(dropout(Tensor::ones({64, 33}, Device::cuda), 0.3f, g1), dropout(Tensor::ones({64, 33}), 0.3f, g2), 0, 0,
                "dropout mask");
}
