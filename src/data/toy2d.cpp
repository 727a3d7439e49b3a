// Toy 2-D distributions. Each draws uniforms/normals from the generator, so a seed fixes a dataset.
//   8gaussians:   centres 4 (cos k pi/4, sin k pi/4), std 0.5
//   moons:        two interleaved half circles (radius 1, shifted), noise 0.1, scaled by 2
//   checkerboard: uniform on the dark squares of a 4x4 board over [-4, 4]^2
//   rings:        two concentric circles, radii 1.5 and 3.5, noise 0.1
//   spiral:       r = theta, theta ~ U[0.5, 3 pi], scaled to radius ~4, noise 0.1
#include "rflow/data/toy2d.hpp"

#include <cmath>
#include <functional>
#include <utility>

#include "rflow/error.hpp"

namespace rflow::data {

namespace {

constexpr float kPi = 3.14159265358979f;

using Maker = std::function<void(float*, int64_t, Generator&)>;

void eight_gaussians(float* p, int64_t n, Generator& g) {
    std::vector<float> u(n), z(2 * n);
    g.uniform(u.data(), n);
    g.normal(z.data(), 2 * n);
    for (int64_t i = 0; i < n; ++i) {
        const int k = std::min(7, static_cast<int>(u[i] * 8.f));
        const float a = k * kPi / 4.f;
        p[2 * i] = 4.f * std::cos(a) + 0.5f * z[2 * i];
        p[2 * i + 1] = 4.f * std::sin(a) + 0.5f * z[2 * i + 1];
    }
}

void moons(float* p, int64_t n, Generator& g) {
    std::vector<float> u(2 * n), z(2 * n);
    g.uniform(u.data(), 2 * n);
    g.normal(z.data(), 2 * n);
    for (int64_t i = 0; i < n; ++i) {
        const float a = kPi * u[2 * i];
        const bool upper = u[2 * i + 1] < 0.5f;
        float x = upper ? std::cos(a) : 1.f - std::cos(a);
        float y = upper ? std::sin(a) : 0.5f - std::sin(a);
        p[2 * i] = 2.f * (x - 0.5f + 0.1f * z[2 * i]);
        p[2 * i + 1] = 2.f * (y - 0.25f + 0.1f * z[2 * i + 1]);
    }
}

void checkerboard(float* p, int64_t n, Generator& g) {
    std::vector<float> u(3 * n);
    g.uniform(u.data(), 3 * n);
    for (int64_t i = 0; i < n; ++i) {
        // pick one of the 8 dark cells of a 4x4 board, then a uniform point in it
        const int cell = std::min(7, static_cast<int>(u[3 * i] * 8.f));
        const int row = cell / 2, col = 2 * (cell % 2) + (row % 2);
        p[2 * i] = -4.f + 2.f * (col + u[3 * i + 1]);
        p[2 * i + 1] = -4.f + 2.f * (row + u[3 * i + 2]);
    }
}

void rings(float* p, int64_t n, Generator& g) {
    std::vector<float> u(2 * n), z(2 * n);
    g.uniform(u.data(), 2 * n);
    g.normal(z.data(), 2 * n);
    for (int64_t i = 0; i < n; ++i) {
        const float r = u[2 * i + 1] < 0.5f ? 1.5f : 3.5f;
        const float a = 2.f * kPi * u[2 * i];
        p[2 * i] = r * std::cos(a) + 0.1f * z[2 * i];
        p[2 * i + 1] = r * std::sin(a) + 0.1f * z[2 * i + 1];
    }
}

void spiral(float* p, int64_t n, Generator& g) {
    std::vector<float> u(n), z(2 * n);
    g.uniform(u.data(), n);
    g.normal(z.data(), 2 * n);
    for (int64_t i = 0; i < n; ++i) {
        const float th = 0.5f + (3.f * kPi - 0.5f) * u[i];
        const float r = th * 4.f / (3.f * kPi);
        p[2 * i] = r * std::cos(th) + 0.1f * z[2 * i];
        p[2 * i + 1] = r * std::sin(th) + 0.1f * z[2 * i + 1];
    }
}

const std::vector<std::pair<std::string, Maker>>& registry() {
    static const std::vector<std::pair<std::string, Maker>> table{
        {"8gaussians", eight_gaussians}, {"moons", moons}, {"checkerboard", checkerboard},
        {"rings", rings},                {"spiral", spiral},
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
