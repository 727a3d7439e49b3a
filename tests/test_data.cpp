// Data and metrics: toy dataset statistics against their definitions, CSV point files, the exact
// assignment solver and OT helpers, sliced W2 / MMD and trajectory straightness.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <unistd.h>

#include <rflow/data/csv.hpp>
#include <rflow/data/toy2d.hpp>
#include <rflow/device.hpp>
#include <rflow/error.hpp>
#include <rflow/metrics.hpp>
#include <rflow/ops.hpp>
#include <rflow/ot.hpp>

using namespace rflow;
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

std::string temp_path(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("rflow_test_data_" + std::to_string(getpid()));
    fs::create_directories(dir);
    return (dir / name).string();
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
}

std::vector<double> random_costs(int64_t n, uint64_t seed, bool integers = false) {
    Generator g(seed);
    std::vector<float> u(n * n);
    g.uniform(u.data(), n * n);
    std::vector<double> c(u.begin(), u.end());
    if (integers)
        for (double& x : c) x = std::floor(x * 5);  // many ties
    return c;
}

double assignment_cost(const std::vector<double>& c, int64_t n, const std::vector<int64_t>& s) {
    double t = 0;
    for (int64_t i = 0; i < n; ++i) t += c[i * n + s[i]];
    return t;
}

bool is_permutation_of_n(const std::vector<int64_t>& s, int64_t n) {
    if (static_cast<int64_t>(s.size()) != n) return false;
    std::vector<int64_t> t = s;
    std::sort(t.begin(), t.end());
    for (int64_t i = 0; i < n; ++i)
        if (t[i] != i) return false;
    return true;
}

double brute_force(const std::vector<double>& c, int64_t n) {
    std::vector<int64_t> p(n);
    std::iota(p.begin(), p.end(), 0);
    double best = 1e300;
    do best = std::min(best, assignment_cost(c, n, p));
    while (std::next_permutation(p.begin(), p.end()));
    return best;
}

// Reference: the classic O(n^3) Hungarian algorithm with potentials (Kuhn-Munkres, e-maxx form),
// independent of the solver under test. Returns the optimal cost.
double hungarian_reference(const std::vector<double>& c, int64_t n) {
    const double inf = 1e300;
    std::vector<double> u(n + 1, 0), v(n + 1, 0);
    std::vector<int64_t> p(n + 1, 0), way(n + 1, 0);
    for (int64_t i = 1; i <= n; ++i) {
        p[0] = i;
        int64_t j0 = 0;
        std::vector<double> minv(n + 1, inf);
        std::vector<char> used(n + 1, 0);
        do {
            used[j0] = 1;
            const int64_t i0 = p[j0];
            double delta = inf;
            int64_t j1 = 0;
            for (int64_t j = 1; j <= n; ++j) {
                if (used[j]) continue;
                const double cur = c[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j]) minv[j] = cur, way[j] = j0;
                if (minv[j] < delta) delta = minv[j], j1 = j;
            }
            for (int64_t j = 0; j <= n; ++j) {
                if (used[j]) u[p[j]] += delta, v[j] -= delta;
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            const int64_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double total = 0;
    for (int64_t j = 1; j <= n; ++j) total += c[(p[j] - 1) * n + (j - 1)];
    return total;
}

double squared_cost(const std::vector<float>& a, const std::vector<float>& b, int64_t d, const std::vector<int64_t>& s) {
    double t = 0;
    for (size_t i = 0; i < s.size(); ++i)
        for (int64_t k = 0; k < d; ++k) {
            const double diff = double(a[i * d + k]) - b[s[i] * d + k];
            t += diff * diff;
        }
    return t;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// ---------------------------------------------------------------- toy datasets

TEST_CASE("toy: the registry lists the seven datasets") {
    const std::vector<std::string> names = data::toy_dataset_names();
    for (const char* n : {"8gaussians", "25gaussians", "moons", "checkerboard", "swissroll", "circles", "spiral"})
        CHECK(std::find(names.begin(), names.end(), n) != names.end());
    CHECK(names.size() == 7);
    for (const std::string& name : names) {
        CAPTURE(name);
        Generator a(4, 1), b(4, 1);
        const std::vector<float> x = data::sample_toy(name, 300, a).to_vector();
        CHECK(x == data::sample_toy(name, 300, b).to_vector());  // pure function of the stream
        CHECK(a == b);                                            // and advances it the same way
        for (float v : x) CHECK(std::isfinite(v));
        Generator c(4, 1);
        CHECK(data::sample_toy(name, 0, c).shape() == Shape{0, 2});
    }
}

TEST_CASE("toy: 8gaussians has 8 clusters of std 0.1 on the radius-2 circle, ~1/8 each") {
    Generator g(1);
    const int64_t n = 16000;
    const std::vector<float> x = data::sample_toy("8gaussians", n, g).to_vector();
    std::vector<int64_t> count(8, 0);
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) {
        int best = 0;
        double bd = 1e9;
        for (int k = 0; k < 8; ++k) {
            const double dx = x[2 * i] - 2 * std::cos(k * kPi / 4), dy = x[2 * i + 1] - 2 * std::sin(k * kPi / 4);
            if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = k;
        }
        REQUIRE(std::sqrt(bd) < 0.5);
        ++count[best];
        sq += bd;
    }
    for (int k = 0; k < 8; ++k) CHECK(count[k] == doctest::Approx(n / 8.0).epsilon(0.08));
    CHECK(std::sqrt(sq / (2 * n)) == doctest::Approx(0.1).epsilon(0.03));  // per-coordinate std
}

TEST_CASE("toy: 25gaussians sits on the integer grid {-2..2}^2 with std 0.05") {
    Generator g(2);
    const int64_t n = 25000;
    const std::vector<float> x = data::sample_toy("25gaussians", n, g).to_vector();
    std::vector<int64_t> count(25, 0);
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double cx = std::round(x[2 * i]), cy = std::round(x[2 * i + 1]);
        REQUIRE(std::fabs(cx) <= 2);
        REQUIRE(std::fabs(cy) <= 2);
        const double dx = x[2 * i] - cx, dy = x[2 * i + 1] - cy;
        REQUIRE(std::sqrt(dx * dx + dy * dy) < 0.35);
        sq += dx * dx + dy * dy;
        ++count[static_cast<int>((cy + 2) * 5 + cx + 2)];
    }
    for (int k = 0; k < 25; ++k) CHECK(count[k] == doctest::Approx(n / 25.0).epsilon(0.12));
    CHECK(std::sqrt(sq / (2 * n)) == doctest::Approx(0.05).epsilon(0.03));
}

TEST_CASE("toy: moons follow the two mapped half circles") {
    Generator g(3);
    const int64_t n = 20000;
    const std::vector<float> x = data::sample_toy("moons", n, g).to_vector();
    // distance from an (unmapped) point to the upper and lower noise-free half circles
    const auto dist_upper = [](double u, double v) {
        return v >= 0 ? std::fabs(std::hypot(u, v) - 1) : std::min(std::hypot(u - 1, v), std::hypot(u + 1, v));
    };
    const auto dist_lower = [](double u, double v) {
        return v <= 0.5 ? std::fabs(std::hypot(u - 1, v - 0.5) - 1)
                        : std::min(std::hypot(u, v - 0.5), std::hypot(u - 2, v - 0.5));
    };
    int64_t upper = 0;
    double resid = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double px = x[2 * i], py = x[2 * i + 1];
        REQUIRE(px > -2.4);
        REQUIRE(px < 2.4);
        REQUIRE(py > -1.4);
        REQUIRE(py < 1.4);
        const double u = px * 0.75 + 0.5, v = py * 0.75 + 0.25;  // undo the map
        const double du = dist_upper(u, v), dl = dist_lower(u, v);
        upper += du < dl;
        resid += std::min(du, dl) * std::min(du, dl);
        REQUIRE(std::min(du, dl) < 0.3);
        sx += px, sy += py, sxx += px * px, syy += py * py;
    }
    CHECK(double(upper) / n == doctest::Approx(0.5).epsilon(0.03));
    // radial residual of isotropic N(0, 0.05^2) noise: its rms is ~0.05
    CHECK(std::sqrt(resid / n) == doctest::Approx(0.05).epsilon(0.1));
    // moments: the map centres the mixture; Var x = (3/4 + 0.05^2) 16/9, Var y = (9/16 - 1/pi + 0.05^2) 16/9
    const double mx = sx / n, my = sy / n;
    CHECK(std::fabs(mx) < 0.02);
    CHECK(std::fabs(my) < 0.02);
    CHECK(sxx / n - mx * mx == doctest::Approx((0.75 + 0.0025) * 16 / 9).epsilon(0.02));
    CHECK(syy / n - my * my == doctest::Approx((0.5625 - 1 / kPi + 0.0025) * 16 / 9).epsilon(0.02));
}

TEST_CASE("toy: checkerboard is uniform on the 8 dark cells of [-2, 2]^2 (i + j even)") {
    Generator g(4);
    const int64_t n = 16000;
    const std::vector<float> x = data::sample_toy("checkerboard", n, g).to_vector();
    std::vector<int64_t> count(16, 0);
    for (int64_t i = 0; i < n; ++i) {
        REQUIRE(x[2 * i] >= -2.f);
        REQUIRE(x[2 * i] <= 2.f);
        REQUIRE(x[2 * i + 1] >= -2.f);
        REQUIRE(x[2 * i + 1] <= 2.f);
        const int col = std::min(3, static_cast<int>(std::floor(x[2 * i] + 2))),
                  row = std::min(3, static_cast<int>(std::floor(x[2 * i + 1] + 2)));
        REQUIRE((col + row) % 2 == 0);
        ++count[row * 4 + col];
    }
    CHECK(count[0] > 0);  // the bottom-left cell (0, 0) is dark
    for (int c = 0; c < 16; ++c)
        if ((c / 4 + c % 4) % 2 == 0) CHECK(count[c] == doctest::Approx(n / 8.0).epsilon(0.08));
}

TEST_CASE("toy: swissroll, circles and spiral match their definitions") {
    Generator g(5);
    const int64_t n = 20000;
    {  // swissroll: E|p|^2 = (E s^2 + 2) / 25 with s = 1.5 pi (1 + 2u): E s^2 = (1.5 pi)^2 13/3
        const std::vector<float> x = data::sample_toy("swissroll", n, g).to_vector();
        double r2 = 0;
        for (int64_t i = 0; i < n; ++i) r2 += double(x[2 * i]) * x[2 * i] + double(x[2 * i + 1]) * x[2 * i + 1];
        CHECK(r2 / n == doctest::Approx((std::pow(1.5 * kPi, 2) * 13 / 3 + 2) / 25).epsilon(0.03));
    }
    {  // circles: radii 1 and 2, half the mass each, noise 0.05
        const std::vector<float> x = data::sample_toy("circles", n, g).to_vector();
        int64_t inner = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double r = std::hypot(x[2 * i], x[2 * i + 1]);
            REQUIRE(std::min(std::fabs(r - 1), std::fabs(r - 2)) < 0.3);
            inner += r < 1.5;
        }
        CHECK(double(inner) / n == doctest::Approx(0.5).epsilon(0.05));
    }
    {  // spiral: point-symmetric arms, radius within ~pi + noise, both arms equally likely
        const Tensor t = data::sample_toy("spiral", n, g);
        const std::vector<float> x = t.to_vector();
        for (int64_t i = 0; i < n; ++i) REQUIRE(std::hypot(x[2 * i], x[2 * i + 1]) < kPi + 0.8);
        CHECK(std::fabs(mean(t).item()) < 0.05);
    }
}

// ---------------------------------------------------------------- CSV

TEST_CASE("csv: round trip is bit-exact, with and without a header") {
    Generator g(6);
    Tensor x = Tensor::normal({50, 3}, g, 0.f, 1e3f);
    x.data()[0] = 1e-30f;
    x.data()[1] = -0.f;
    x.data()[2] = 3.4e38f;
    const std::string p = temp_path("points.csv");
    data::save_points_csv(p, x);
    std::vector<std::string> h{"junk"};
    Tensor y = data::load_points_csv(p, &h);
    CHECK(h.empty());
    CHECK(y.shape() == x.shape());
    CHECK(y.to_vector() == x.to_vector());
    data::save_points_csv(p, x, {"x", "y", "z"});
    y = data::load_points_csv(p, &h);
    CHECK(h == std::vector<std::string>{"x", "y", "z"});
    CHECK(y.to_vector() == x.to_vector());
    // header and bad values are refused before anything is written: the old file survives
    CHECK_THROWS_WITH_AS(data::save_points_csv(p, x, {"a", "b"}), doctest::Contains("header has 2 names"), Error);
    CHECK_THROWS_WITH_AS(data::save_points_csv(p, x, {"a", "1.5", "c"}), doctest::Contains("is a number"), Error);
    CHECK_THROWS_WITH_AS(data::save_points_csv(p, x, {"a", "b,c", "d"}), doctest::Contains("','"), Error);
    Tensor bad = x.clone();
    bad.data()[7] = std::nanf("");
    CHECK_THROWS_WITH_AS(data::save_points_csv(p, bad), doctest::Contains("not finite"), Error);
    CHECK_THROWS_WITH_AS(data::save_points_csv(p, Tensor::zeros({4})), doctest::Contains("2-D"), Error);
    CHECK(data::load_points_csv(p).to_vector() == x.to_vector());
}

TEST_CASE("csv: headers, blank lines, spaces, CRLF and a byte-order mark are accepted") {
    const std::string p = temp_path("loose.csv");
    write_text(p, "\xEF\xBB\xBF\n  x , y \r\n\r\n1, 2\r\n +3.5 ,-4e1\n\n   \n.5,6.\n");
    std::vector<std::string> h;
    Tensor t = data::load_points_csv(p, &h);
    CHECK(h == std::vector<std::string>{"x", "y"});
    CHECK(t.shape() == Shape{3, 2});
    CHECK(t.to_vector() == std::vector<float>{1, 2, 3.5f, -40, 0.5f, 6});
    write_text(p, "7\n8\n");  // one column, no trailing header
    CHECK(data::load_points_csv(p).shape() == Shape{2, 1});
}

TEST_CASE("csv: malformed files name the file and the line") {
    const std::string p = temp_path("bad.csv");
    const auto expect = [&](const std::string& text, const std::string& where, const std::string& what) {
        CAPTURE(text);
        write_text(p, text);
        const std::string at = p + ":" + where;
        CHECK_THROWS_WITH_AS(data::load_points_csv(p), doctest::Contains(at.c_str()), Error);
        CHECK_THROWS_WITH_AS(data::load_points_csv(p), doctest::Contains(what.c_str()), Error);
    };
    expect("x,y\n1,2\n3,4,5\n", "3:", "3 columns, but earlier lines have 2");
    expect("1,2\n\n3\n", "3:", "1 columns, but earlier lines have 2");
    expect("x,y\n1,2\n3,abc\n", "3:", "column 2 'abc' is not a number");
    expect("1,2\n3,\n", "2:", "empty value in column 2");
    expect("1,2\n3,nan\n", "2:", "not finite");
    expect("1,2\n3,inf\n", "2:", "not finite");
    expect("1,2\n3,1e39\n", "2:", "out of float range");
    expect("1,2\nx,y\n", "2:", "'x' is not a number");
    expect("\n\nx,1\n", "3:", "column 1 'x' is not a number");
    expect("1,2\n3,4 5\n", "2:", "'4 5' is not a number");
    expect("1,2\n3,+-4\n", "2:", "'+-4' is not a number");
    expect("x,,z\n1,2,3\n", "1:", "empty name in header column 2");
    write_text(p, "x,y\n\n");
    CHECK_THROWS_WITH_AS(data::load_points_csv(p), doctest::Contains("no data rows (only a header)"), Error);
    write_text(p, "");
    CHECK_THROWS_WITH_AS(data::load_points_csv(p), doctest::Contains("no data rows (empty file)"), Error);
    CHECK_THROWS_WITH_AS(data::load_points_csv(temp_path("missing.csv")), doctest::Contains("missing.csv"), Error);
}

// ---------------------------------------------------------------- assignment and OT

TEST_CASE("lap: optimal against brute force on every small random problem") {
    for (int64_t n = 1; n <= 7; ++n) {
        for (uint64_t seed = 0; seed < 40; ++seed) {
            CAPTURE(n);
            CAPTURE(seed);
            const std::vector<double> c = random_costs(n, 100 * n + seed, seed % 2 == 1);
            const std::vector<int64_t> s = linear_sum_assignment(c, n);
            REQUIRE(is_permutation_of_n(s, n));
            CHECK(assignment_cost(c, n, s) == doctest::Approx(brute_force(c, n)).epsilon(1e-12));
        }
    }
    // negative and constant costs
    const std::vector<double> neg{-1, -5, -3, -2};
    CHECK(linear_sum_assignment(neg, 2) == std::vector<int64_t>{1, 0});
    const std::vector<int64_t> s = linear_sum_assignment(std::vector<double>(25, 3.0), 5);
    CHECK(is_permutation_of_n(s, 5));
    CHECK(linear_sum_assignment(std::vector<double>{}, 0).empty());
}

TEST_CASE("lap: known answers") {
    // scipy.optimize.linear_sum_assignment docs example: rows -> [1, 0, 2], cost 5
    const std::vector<double> c{4, 1, 3, 2, 0, 5, 3, 2, 2};
    CHECK(linear_sum_assignment(c, 3) == std::vector<int64_t>{1, 0, 2});
    // Tensor input: the anti-identity is the only zero-cost assignment
    std::vector<float> m(16, 1.f);
    for (int i = 0; i < 4; ++i) m[i * 4 + 3 - i] = 0.f;
    CHECK(linear_sum_assignment(Tensor::from_vector(m, {4, 4})) == std::vector<int64_t>{3, 2, 1, 0});
    // a classic 4x4 example (Hungarian method textbooks): optimum 140
    const std::vector<double> h{82, 83, 69, 92, 77, 37, 49, 92, 11, 69, 5, 86, 8, 9, 98, 23};
    const std::vector<int64_t> sh = linear_sum_assignment(h, 4);
    CHECK(assignment_cost(h, 4, sh) == 140);
    CHECK_THROWS_WITH_AS(linear_sum_assignment(std::vector<double>{1, 2, 3}, 2), doctest::Contains("3 costs"), Error);
    CHECK_THROWS_WITH_AS(linear_sum_assignment(std::vector<double>{1, 2, NAN, 4}, 2),
                         doctest::Contains("cost[1, 0] is not finite"), Error);
    CHECK_THROWS_WITH_AS(linear_sum_assignment(Tensor::zeros({2, 3})), doctest::Contains("square"), Error);
}

TEST_CASE("lap: medium problems match an independent Hungarian implementation") {
    for (int64_t n : {8, 13, 40, 97, 150}) {
        for (uint64_t seed = 0; seed < 8; ++seed) {
            CAPTURE(n);
            CAPTURE(seed);
            std::vector<double> c = random_costs(n, 7000 + 10 * n + seed, seed % 2 == 0);  // even seeds: ties
            if (seed % 4 == 3)  // a structured, geometric problem (squared distances of clustered points)
                for (int64_t i = 0; i < n; ++i)
                    for (int64_t j = 0; j < n; ++j) c[i * n + j] = std::pow(double(i % 5) - 0.1 * (j % 11), 2) + 1e-3 * c[i * n + j];
            const std::vector<int64_t> s = linear_sum_assignment(c, n);
            REQUIRE(is_permutation_of_n(s, n));
            CHECK(assignment_cost(c, n, s) == doctest::Approx(hungarian_reference(c, n)).epsilon(1e-12));
        }
    }
}

TEST_CASE("ot: exact_w2 is 0 to itself, the shift length to a shifted copy, and checks its input") {
    Generator g(7);
    Tensor a = Tensor::normal({300, 2}, g);
    CHECK(exact_w2(a, a) == 0.0);
    // a translation: the identity pairing is optimal and W2 is the shift length
    Tensor shift = Tensor::from_vector({0.3f, -0.4f}, {1, 2});
    CHECK(exact_w2(a, add(a, shift)) == doctest::Approx(0.5).epsilon(1e-5));
    // a permuted copy is still at distance 0
    std::vector<int64_t> perm(300);
    g.permutation(perm.data(), 300);
    CHECK(exact_w2(a, index_select(a, 0, perm)) == doctest::Approx(0.0).scale(1));
    // W2 >= sliced W2 (projections are 1-Lipschitz)
    Tensor b = data::sample_toy("8gaussians", 300, g);
    Generator p(1);
    CHECK(exact_w2(a, b) >= sliced_wasserstein(a, b, p) - 1e-9);
    // D <= 8 computes costs per row, D > 8 through a cost matrix: zero-padding to D = 10 agrees
    const Tensor pad = Tensor::zeros({300, 8});
    CHECK(exact_w2(concat({a, pad}, 1), concat({b, pad}, 1)) == doctest::Approx(exact_w2(a, b)).epsilon(1e-9));
    CHECK_THROWS_WITH_AS(exact_w2(a, Tensor::zeros({200, 2})), doctest::Contains("one shape"), Error);
    CHECK_THROWS_WITH_AS(exact_w2(Tensor::zeros({5001, 1}), Tensor::zeros({5001, 1})),
                         doctest::Contains("more than 5000"), Error);
}

TEST_CASE("ot: ot_pairing is a permutation, optimal, and never costs more than the identity") {
    for (uint64_t seed = 0; seed < 5; ++seed) {
        Generator g(seed);
        const int64_t n = 128, d = 3;
        Tensor x0 = Tensor::normal({n, d}, g), x1 = Tensor::normal({n, d}, g, 1.f, 2.f);
        const std::vector<int64_t> s = ot_pairing(x0, x1);
        REQUIRE(is_permutation_of_n(s, n));
        const std::vector<float> a = x0.to_vector(), b = x1.to_vector();
        std::vector<int64_t> id(n);
        std::iota(id.begin(), id.end(), 0);
        const double c_opt = squared_cost(a, b, d, s);
        CHECK(c_opt <= squared_cost(a, b, d, id));
        CHECK(std::sqrt(c_opt / n) == doctest::Approx(exact_w2(x0, x1)).epsilon(1e-9));
        // index_select(x1, 0, s) pairs with x0 row by row
        Tensor paired = index_select(x1, 0, s);
        CHECK(sum(square(sub(x0, paired))).item() == doctest::Approx(c_opt).epsilon(1e-4));
    }
    // images [N, C, H, W] are compared as flattened rows; a permuted batch is paired back exactly
    Generator g(9);
    Tensor img = Tensor::normal({16, 1, 4, 4}, g);
    std::vector<int64_t> perm(16);
    g.permutation(perm.data(), 16);
    const std::vector<int64_t> s = ot_pairing(img, index_select(img, 0, perm));
    for (int i = 0; i < 16; ++i) CHECK(perm[s[i]] == i);
}

TEST_CASE("ot: timing of the solver on point clouds (reported)") {
    for (int64_t n : {256, 1024, 2000}) {
        Generator g(n);
        Tensor x0 = Tensor::normal({n, 2}, g), x1 = data::sample_toy("8gaussians", n, g);
        auto t0 = std::chrono::steady_clock::now();
        const std::vector<int64_t> s = ot_pairing(x0, x1);
        const double dt = seconds_since(t0);
        MESSAGE("ot_pairing n = " << n << " (normal -> 8gaussians, D = 2): " << dt << " s");
        CHECK(is_permutation_of_n(s, n));
        CHECK(dt < (n <= 1024 ? 2.0 : 10.0));  // generous: shared CI machines
    }
}

// ---------------------------------------------------------------- metrics

TEST_CASE("metrics: sliced W2 known values, unequal sizes and errors") {
    Generator g(10);
    Tensor a = Tensor::normal({500, 3}, g);
    Generator p(2);
    CHECK(sliced_wasserstein(a, a, p) == 0.0);
    // a shift s along every direction u projects to u.s; E (u.s)^2 = |s|^2 / D for uniform u
    Tensor s = Tensor::from_vector({1.f, 2.f, 2.f}, {1, 3});
    Generator p2(3);
    const double sw = sliced_wasserstein(a, add(a, s), p2, 2000);
    CHECK(sw == doctest::Approx(std::sqrt(9.0 / 3)).epsilon(0.05));
    // unequal sizes: a cloud against itself repeated twice is at distance 0
    Tensor aa = concat({a, a}, 0);
    Generator p3(4);
    CHECK(sliced_wasserstein(a, aa, p3) == doctest::Approx(0.0).scale(1));
    // 1-D: {0, 1} against {0, 0, 1}: quantiles differ on [1/2, 2/3) by 1, W2^2 = 1/6
    Tensor x = Tensor::from_vector({0, 1}, {2, 1}), y = Tensor::from_vector({0, 0, 1}, {3, 1});
    Generator p4(5);
    CHECK(sliced_wasserstein(x, y, p4, 3) == doctest::Approx(std::sqrt(1.0 / 6)));
    Generator p5(6);
    CHECK_THROWS_WITH_AS(sliced_wasserstein(a, Tensor::zeros({5, 2}), p5), doctest::Contains("[N, D]"), Error);
    CHECK_THROWS_WITH_AS(sliced_wasserstein(a, a, p5, 0), doctest::Contains("projections"), Error);
}

TEST_CASE("metrics: MMD^2 matches a direct evaluation and orders distributions") {
    Generator g(11);
    Tensor a = Tensor::normal({40, 2}, g), b = Tensor::normal({30, 2}, g, 0.5f);
    const std::vector<float> va = a.to_vector(), vb = b.to_vector();
    const std::vector<double> hs{0.5, 1.0, 2.0, 0.7};
    auto k = [&](const float* x, const float* y) {
        const double r2 = std::pow(double(x[0]) - y[0], 2) + std::pow(double(x[1]) - y[1], 2);
        double s = 0;
        for (double h : hs) s += std::exp(-r2 / (2 * h * h));
        return s;
    };
    double kxx = 0, kyy = 0, kxy = 0;
    for (int i = 0; i < 40; ++i)
        for (int j = 0; j < 40; ++j)
            if (i != j) kxx += k(&va[2 * i], &va[2 * j]);
    for (int i = 0; i < 30; ++i)
        for (int j = 0; j < 30; ++j)
            if (i != j) kyy += k(&vb[2 * i], &vb[2 * j]);
    for (int i = 0; i < 40; ++i)
        for (int j = 0; j < 30; ++j) kxy += k(&va[2 * i], &vb[2 * j]);
    const double want = kxx / (40 * 39) + kyy / (30 * 29) - 2 * kxy / (40 * 30);
    CHECK(mmd_rbf(a, b, hs) == doctest::Approx(want).epsilon(1e-10));
    Tensor c = Tensor::normal({400, 2}, g), d = Tensor::normal({400, 2}, g), e = Tensor::normal({400, 2}, g, 1.f);
    CHECK(std::fabs(mmd_rbf(c, d)) < mmd_rbf(c, e));
    CHECK_THROWS_WITH_AS(mmd_rbf(a, b, {1.0, -1.0}), doctest::Contains("positive"), Error);
}

TEST_CASE("metrics: the same bits for any thread count") {
    Generator g(14);
    Tensor a = data::sample_toy("moons", 3000, g), b = Tensor::normal({3000, 2}, g);
    const auto run = [&](int threads) {
        set_num_threads(threads);
        Generator p(5);
        const std::pair<double, double> r{sliced_wasserstein(a, b, p, 64), mmd_rbf(a, b)};
        set_num_threads(0);
        return r;
    };
    const auto one = run(1), two = run(2), three = run(3);
    CHECK(one.first == two.first);
    CHECK(one.first == three.first);
    CHECK(one.second == two.second);
    CHECK(one.second == three.second);
}

TEST_CASE("metrics: 10,000 points in well under a second") {
    Generator g(12);
    Tensor a = data::sample_toy("8gaussians", 10000, g), b = Tensor::normal({10000, 2}, g);
    Generator p(1);
    auto t0 = std::chrono::steady_clock::now();
    const double sw = sliced_wasserstein(a, b, p, 256);
    const double t_sw = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const double mmd = mmd_rbf(a, b);
    const double t_mmd = seconds_since(t0);
    MESSAGE("10k points: sliced W2 (256 projections) " << t_sw << " s (" << sw << "), MMD^2 " << t_mmd << " s (" << mmd
                                                       << ")");
    CHECK(sw > 0);
    CHECK(mmd > 0);
    CHECK(t_sw < 2.0);  // generous: shared CI machines
}

TEST_CASE("straightness: zero for straight constant-speed paths, analytic values for curved ones") {
    Generator g(13);
    const int64_t n = 64, steps = 400;
    Tensor z0 = Tensor::normal({n, 2}, g), z1 = Tensor::normal({n, 2}, g);
    std::vector<Tensor> states;
    std::vector<float> times;
    for (int64_t k = 0; k <= steps; ++k) {
        const float t = float(k) / steps;
        times.push_back(t);
        states.push_back(add(mul(z0, 1 - t), mul(z1, t)));
    }
    CHECK(straightness(states, times) < 1e-8);  // float rounding of the states only
    // same line, speed 2t: S = E|D|^2 int (1 - 2t)^2 dt = E|D|^2 / 3
    std::vector<Tensor> accel;
    for (int64_t k = 0; k <= steps; ++k) accel.push_back(add(z0, mul(sub(z1, z0), times[k] * times[k])));
    const double d2 = mean(sum(square(sub(z1, z0)), {1})).item();
    CHECK(straightness(accel, times) == doctest::Approx(d2 / 3).epsilon(1e-4));
    // quarter circle (cos, sin)(pi t / 2) at constant speed: S = pi^2 / 4 - 2
    std::vector<Tensor> arc;
    std::vector<float> uneven;  // uneven increasing grid
    for (int64_t k = 0; k <= steps; ++k) {
        const double t = std::pow(double(k) / steps, 1.5);
        uneven.push_back(static_cast<float>(t));
        const float c = static_cast<float>(std::cos(kPi * t / 2)), s = static_cast<float>(std::sin(kPi * t / 2));
        arc.push_back(Tensor::from_vector({c, s, 2 * c, 2 * s}, {2, 2}));  // radius 1 and 2: mean of 1x and 4x
    }
    CHECK(straightness(arc, uneven) == doctest::Approx((kPi * kPi / 4 - 2) * 2.5).epsilon(1e-3));
    CHECK_THROWS_WITH_AS(straightness({states[0]}, {0.f}), doctest::Contains("at least two"), Error);
    CHECK_THROWS_WITH_AS(straightness({states[0], states[1]}, {0.f, 0.5f}), doctest::Contains("from 0 to 1"), Error);
    CHECK_THROWS_WITH_AS(straightness({states[0], states[1], states[2]}, {0.f, 1.f, 1.f}),
                         doctest::Contains("increase"), Error);
    CHECK_THROWS_WITH_AS(straightness({states[0], Tensor::zeros({3, 2})}, {0.f, 1.f}), doctest::Contains("shape"), Error);
}
