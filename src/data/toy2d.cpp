// Toy 2-D distributions, each a pure function of the generator stream (the same seed, stream and
// offset give the same points). The definitions follow the toy experiments of FFJORD / the
// flow-matching and rectified-flow papers, so numbers compare with published ones:
//
//   8gaussians:   k ~ U{0..7}; centre 2 (cos k pi/4, sin k pi/4); plus N(0, 0.1^2 I).
//   25gaussians:  (i, j) ~ U{-2..2}^2 (each 1/25); centre (i, j); plus N(0, 0.05^2 I).
//   moons:        label ~ Bernoulli(1/2), a ~ U[0, pi]; upper (label 1): (cos a, sin a),
//                 lower (label 0): (1 - cos a, 0.5 - sin a); plus N(0, 0.05^2 I); then
//                 (x, y) -> ((x - 0.5) 4/3, (y - 0.25) 4/3). Noise-free support: [-2, 2] x [-1, 1].
//   checkerboard: uniform on the 8 unit squares [-2 + i, -1 + i] x [-2 + j, -1 + j] of [-2, 2]^2
//                 (column i, row j in 0..3 counted from the bottom-left) with i + j even; each
//                 square has mass 1/8.
//   swissroll:    u ~ U[0, 1), s = 1.5 pi (1 + 2u); ((s cos s, s sin s) + N(0, I)) / 5
//                 (sklearn make_swiss_roll(noise=1) columns x and z, divided by 5).
//   circles:      ring ~ Bernoulli(1/2) picks radius r = 1 or r = 2 (equal mass per ring),
//                 a ~ U[0, 2 pi); (r cos a, r sin a) plus N(0, 0.05^2 I).
//   spiral:       two interleaved arms (FFJORD "2spirals", arm chosen per point):
//                 arm ~ Bernoulli(1/2) gives sign s = +1 or -1, w ~ U[0, 1), th = 3 pi sqrt(w),
//                 e1, e2 ~ U[0, 1); p = s (-th cos th + e1/2, th sin th + e2/2) / 3 plus N(0, 0.1^2 I).
//                 Radius up to about pi.
//
// Draw order (all per call, so a call consumes a fixed amount of stream for a given n): the discrete
// choices first (randint), then uniforms, then normals, each as one block of n or 2n values, in
// the order listed in each function. Point i uses element i (or 2i, 2i + 1) of each block.
#include "rflow/data/toy2d.hpp"

#include <cmath>
#include <utility>

#include "rflow/error.hpp"

namespace rflow::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

using Maker = void (*)(float*, int64_t, Generator&);

std::vector<int64_t> choices(int64_t n, int64_t k, Generator& g) {
    std::vector<int64_t> c(n);
    if (n > 0) g.randint(c.data(), n, 0, k);
    return c;
}
std::vector<float> uniforms(int64_t n, Generator& g) {
    std::vector<float> u(n);
    if (n > 0) g.uniform(u.data(), n);
    return u;
}
std::vector<float> normals(int64_t n, Generator& g) {
    std::vector<float> z(n);
    if (n > 0) g.normal(z.data(), n);
    return z;
}

void eight_gaussians(float* p, int64_t n, Generator& g) {
    const std::vector<int64_t> k = choices(n, 8, g);
    const std::vector<float> z = normals(2 * n, g);
    for (int64_t i = 0; i < n; ++i) {
        const double a = static_cast<double>(k[i]) * kPi / 4;
        p[2 * i] = static_cast<float>(2 * std::cos(a) + 0.1 * z[2 * i]);
        p[2 * i + 1] = static_cast<float>(2 * std::sin(a) + 0.1 * z[2 * i + 1]);
    }
}

void twentyfive_gaussians(float* p, int64_t n, Generator& g) {
    const std::vector<int64_t> k = choices(n, 25, g);
    const std::vector<float> z = normals(2 * n, g);
    for (int64_t i = 0; i < n; ++i) {
        p[2 * i] = static_cast<float>(static_cast<double>(k[i] % 5 - 2) + 0.05 * z[2 * i]);
        p[2 * i + 1] = static_cast<float>(static_cast<double>(k[i] / 5 - 2) + 0.05 * z[2 * i + 1]);
    }
}

void moons(float* p, int64_t n, Generator& g) {
    const std::vector<int64_t> label = choices(n, 2, g);
    const std::vector<float> u = uniforms(n, g);
    const std::vector<float> z = normals(2 * n, g);
    for (int64_t i = 0; i < n; ++i) {
        const double a = kPi * u[i];
        const double x = label[i] ? std::cos(a) : 1 - std::cos(a);
        const double y = label[i] ? std::sin(a) : 0.5 - std::sin(a);
        p[2 * i] = static_cast<float>((x + 0.05 * z[2 * i] - 0.5) * 4 / 3);
        p[2 * i + 1] = static_cast<float>((y + 0.05 * z[2 * i + 1] - 0.25) * 4 / 3);
    }
}

void checkerboard(float* p, int64_t n, Generator& g) {
    const std::vector<int64_t> cell = choices(n, 8, g);
    const std::vector<float> u = uniforms(2 * n, g);
    for (int64_t i = 0; i < n; ++i) {
        // dark cell c = 0..7: row j = c / 2, column i = 2 (c % 2) + (j % 2), so i + j is even
        const int64_t row = cell[i] / 2, col = 2 * (cell[i] % 2) + (row % 2);
        p[2 * i] = static_cast<float>(-2.0 + static_cast<double>(col) + u[2 * i]);
        p[2 * i + 1] = static_cast<float>(-2.0 + static_cast<double>(row) + u[2 * i + 1]);
    }
}

void swissroll(float* p, int64_t n, Generator& g) {
    const std::vector<float> u = uniforms(n, g);
    const std::vector<float> z = normals(2 * n, g);
    for (int64_t i = 0; i < n; ++i) {
        const double s = 1.5 * kPi * (1 + 2 * static_cast<double>(u[i]));
        p[2 * i] = static_cast<float>((s * std::cos(s) + z[2 * i]) / 5);
        p[2 * i + 1] = static_cast<float>((s * std::sin(s) + z[2 * i + 1]) / 5);
    }
}

void circles(float* p, int64_t n, Generator& g) {
    const std::vector<int64_t> ring = choices(n, 2, g);
    const std::vector<float> u = uniforms(n, g);
    const std::vector<float> z = normals(2 * n, g);
    for (int64_t i = 0; i < n; ++i) {
        const double r = ring[i] ? 2.0 : 1.0, a = 2 * kPi * u[i];
        p[2 * i] = static_cast<float>(r * std::cos(a) + 0.05 * z[2 * i]);
        p[2 * i + 1] = static_cast<float>(r * std::sin(a) + 0.05 * z[2 * i + 1]);
    }
}

void spiral(float* p, int64_t n, Generator& g) {
    const std::vector<int64_t> arm = choices(n, 2, g);
    const std::vector<float> u = uniforms(3 * n, g);  // per point: w, e1, e2
    const std::vector<float> z = normals(2 * n, g);
    for (int64_t i = 0; i < n; ++i) {
        const double s = arm[i] ? 1.0 : -1.0;
        const double th = 3 * kPi * std::sqrt(static_cast<double>(u[3 * i]));
        const double x = -th * std::cos(th) + 0.5 * u[3 * i + 1];
        const double y = th * std::sin(th) + 0.5 * u[3 * i + 2];
        p[2 * i] = static_cast<float>(s * x / 3 + 0.1 * z[2 * i]);
        p[2 * i + 1] = static_cast<float>(s * y / 3 + 0.1 * z[2 * i + 1]);
    }
}

const std::vector<std::pair<std::string, Maker>>& registry() {
    static const std::vector<std::pair<std::string, Maker>> table{
        {"8gaussians", eight_gaussians}, {"25gaussians", twentyfive_gaussians}, {"moons", moons},
        {"checkerboard", checkerboard},  {"swissroll", swissroll},            {"circles", circles},
        {"spiral", spiral},
    };
    return table;
}

}  // namespace

Tensor sample_toy(const std::string& name, int64_t n, Generator& gen) {
    RFLOW_CHECK(n >= 0, "sample_toy: negative count " << n);
    for (const auto& [key, make] : registry()) {
        if (key != name) continue;
        std::vector<float> v(2 * n);
        make(v.data(), n, gen);
        return Tensor::from_vector(v, {n, 2});
    }
    std::string known;
    for (const auto& [key, m] : registry()) known += (known.empty() ? "" : ", ") + key;
    RFLOW_FAIL("unknown toy dataset '" << name << "' (known: " << known << ")");
}

std::vector<std::string> toy_dataset_names() {
    std::vector<std::string> out;
    for (const auto& [key, m] : registry()) out.push_back(key);
    return out;
}

}  // namespace rflow::data
