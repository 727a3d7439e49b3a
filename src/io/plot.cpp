// Scatter and curve PNGs drawn with OpenCV, encoded in memory and written atomically.
#include "rflow/io/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"

#ifdef RFLOW_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace rflow::io {

Tensor field_grid(const std::function<Tensor(const Tensor&)>& f, float extent, int64_t g) {
    std::vector<float> pts;
    pts.reserve(2 * g * g);
    for (int64_t r = 0; r < g; ++r)
        for (int64_t c = 0; c < g; ++c) {
            pts.push_back(-extent + (2 * c + 1) * extent / g);  // x grows with the column
            pts.push_back(extent - (2 * r + 1) * extent / g);   // y shrinks with the row
        }
    Tensor values = f(Tensor::from_vector(pts, {g * g, 2}));
    RFLOW_CHECK(values.numel() == g * g, "field_grid: f must return one value per point");
    return values.reshape({g, g});
}

#ifdef RFLOW_HAVE_OPENCV

bool png_supported() { return true; }

namespace {

void write_png(const std::string& path, const cv::Mat& img, const PngText& text) {
    std::vector<uchar> buf;
    RFLOW_CHECK(cv::imencode(".png", img, buf), "could not encode PNG for " << path);
    if (!text.empty()) buf = png_add_text(buf, text);
    write_file_atomic(path, buf.data(), buf.size());
}

cv::Scalar bgr(const std::array<uint8_t, 3>& rgb) { return cv::Scalar(rgb[2], rgb[1], rgb[0]); }

// Maps a 2-D point to pixels of a square panel at (x0, y0) covering [-extent, extent]^2.
cv::Point to_pixel(float x, float y, int x0, int y0, float extent, int size) {
    return {x0 + static_cast<int>((x + extent) / (2 * extent) * size), y0 + static_cast<int>((extent - y) / (2 * extent) * size)};
}

void draw_frame(cv::Mat& img, int x0, int y0, int size, const std::string& title) {
    cv::rectangle(img, {x0 + 1, y0}, {x0 + size - 2, y0 + size - 1}, cv::Scalar(200, 200, 200));
    cv::line(img, {x0 + size / 2, y0}, {x0 + size / 2, y0 + size - 1}, cv::Scalar(230, 230, 230));
    cv::line(img, {x0, y0 + size / 2}, {x0 + size - 1, y0 + size / 2}, cv::Scalar(230, 230, 230));
    cv::putText(img, title, {x0 + 8, y0 - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
}

void draw_points(cv::Mat& img, const Tensor& points, int x0, int y0, float extent, int size, const cv::Scalar& color) {
    std::vector<float> v = points.to_vector();
    const cv::Rect box(x0, y0, size, size);
    for (size_t i = 0; i + 1 < v.size(); i += 2) {
        if (!std::isfinite(v[i]) || !std::isfinite(v[i + 1])) continue;
        const cv::Point p = to_pixel(v[i], v[i + 1], x0, y0, extent, size);
        if (box.contains(p)) cv::circle(img, p, 1, color, cv::FILLED, cv::LINE_AA);
    }
}

// The field as a pale colour map with contour lines where the level (tenths of its range) changes.
void draw_field(cv::Mat& img, const Tensor& field, int x0, int y0, int size) {
    RFLOW_CHECK(field.dim() == 2 && field.size(0) == field.size(1),
                "write_scatter_png: a field must be [G, G], got " << shape_str(field.shape()));
    const int g = static_cast<int>(field.size(0));
    std::vector<float> v = field.contiguous().to_vector();
    cv::Mat grid(g, g, CV_32F, v.data()), fine;
    cv::resize(grid, fine, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
    double lo = 0, hi = 0;
    cv::minMaxLoc(fine, &lo, &hi);
    const double range = hi > lo ? hi - lo : 1.0;
    auto level = [&](int r, int c) { return std::min(9, static_cast<int>((fine.at<float>(r, c) - lo) / range * 10)); };
    for (int r = 0; r < size; ++r)
        for (int c = 0; c < size; ++c) {
            const double u = (fine.at<float>(r, c) - lo) / range;  // 0 low .. 1 high
            cv::Vec3b& px = img.at<cv::Vec3b>(y0 + r, x0 + c);
            const int l = level(r, c);
            const bool edge = (c + 1 < size && level(r, c + 1) != l) || (r + 1 < size && level(r + 1, c) != l);
            if (edge) {
                px = cv::Vec3b(150, 150, 150);
            } else {  // blend light blue (low) to light orange (high), in BGR
                px = cv::Vec3b(static_cast<uchar>(250 - 60 * u), static_cast<uchar>(225 + 10 * (1 - std::fabs(2 * u - 1))),
                               static_cast<uchar>(200 + 55 * u));
            }
        }
}

}  // namespace

std::array<uint8_t, 3> palette(size_t i) {
    static const std::array<uint8_t, 3> colors[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                                    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
    return colors[i % 8];
}

void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>& panels, float extent, int size,
                       const std::string& footer, int columns, const PngText& text) {
    RFLOW_CHECK(!panels.empty(), "write_scatter_png: no panels for " << path);
    const int cols = columns > 0 ? std::min<int>(columns, static_cast<int>(panels.size())) : static_cast<int>(panels.size());
    const int rows = (static_cast<int>(panels.size()) + cols - 1) / cols;
    const int title_h = 28, footer_h = footer.empty() ? 0 : 24;
    cv::Mat img(rows * (size + title_h) + footer_h, size * cols, CV_8UC3, cv::Scalar(255, 255, 255));
    for (size_t p = 0; p < panels.size(); ++p) {
        const ScatterPanel& panel = panels[p];
        RFLOW_CHECK(panel.points.dim() == 2 && panel.points.size(1) == 2,
                    "write_scatter_png: panel '" << panel.title << "' needs points [N, 2], got "
                                                 << shape_str(panel.points.shape()));
        const int x0 = static_cast<int>(p % cols) * size, y0 = static_cast<int>(p / cols) * (size + title_h) + title_h;
        if (panel.field.defined()) draw_field(img, panel.field, x0, y0, size);
        draw_frame(img, x0, y0, size, panel.title);
        draw_points(img, panel.points, x0, y0, extent, size, bgr(panel.rgb));
    }
    if (!footer.empty())
        cv::putText(img, footer, {6, rows * (size + title_h) + 17}, cv::FONT_HERSHEY_SIMPLEX, 0.42, cv::Scalar(60, 60, 60), 1,
                    cv::LINE_AA);
    write_png(path, img, text);
}

void write_trajectories_png(const std::string& path, const std::vector<Tensor>& states, const std::string& title,
                            float extent, int max_paths, const Tensor& reference, int size, const PngText& text) {
    RFLOW_CHECK(states.size() >= 2, "write_trajectories_png: need at least two states for " << path);
    const int title_h = 28;
    cv::Mat img(size + title_h, size, CV_8UC3, cv::Scalar(255, 255, 255));
    draw_frame(img, 0, title_h, size, title);
    if (reference.defined()) draw_points(img, reference, 0, title_h, extent, size, cv::Scalar(215, 215, 215));
    std::vector<std::vector<float>> v;
    for (const Tensor& s : states) {
        RFLOW_CHECK(s.dim() == 2 && s.size(1) == 2 && s.size(0) == states[0].size(0),
                    "write_trajectories_png: every state must be [N, 2] with the same N");
        v.push_back(s.to_vector());
    }
    const int64_t n = std::min<int64_t>(states[0].size(0), max_paths);
    for (int64_t i = 0; i < n; ++i) {
        std::vector<cv::Point> line;
        for (const auto& st : v) line.push_back(to_pixel(st[2 * i], st[2 * i + 1], 0, title_h, extent, size));
        cv::polylines(img, line, false, cv::Scalar(180, 119, 31), 1, cv::LINE_AA);
        cv::circle(img, line.front(), 2, cv::Scalar(120, 120, 120), cv::FILLED, cv::LINE_AA);
        cv::circle(img, line.back(), 2, cv::Scalar(14, 127, 255), cv::FILLED, cv::LINE_AA);
    }
    write_png(path, img, text);
}

void write_xy_png(const std::string& path, const std::string& title, const std::string& x_label,
                  const std::string& y_label, const std::vector<XYSeries>& series, bool log_x, bool log_y, int width,
                  int height, const PngText& text) {
    RFLOW_CHECK(!series.empty(), "write_xy_png: no series for " << path);
    auto tx = [&](double x) { return log_x ? std::log10(std::max(x, 1e-12)) : x; };
    auto ty = [&](double y) { return log_y ? std::log10(std::max(y, 1e-12)) : y; };
    double xlo = 1e300, xhi = -1e300, ylo = 1e300, yhi = -1e300;
    for (const XYSeries& s : series) {
        RFLOW_CHECK(s.x.size() == s.y.size(), "write_xy_png: series '" << s.label << "' has unequal x and y");
        for (size_t i = 0; i < s.x.size(); ++i) {
            if (!std::isfinite(s.y[i])) continue;
            xlo = std::min(xlo, tx(s.x[i])); xhi = std::max(xhi, tx(s.x[i]));
            ylo = std::min(ylo, ty(s.y[i])); yhi = std::max(yhi, ty(s.y[i]));
        }
    }
    if (!(xhi > xlo)) { xlo -= 0.5; xhi += 0.5; }
    if (!(yhi > ylo)) { ylo -= 0.5; yhi += 0.5; }
    if (!log_y) ylo = std::min(ylo, 0.0);
    const int left = 70, right = 170, top = 52, bottom = 44;
    cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::rectangle(img, {left, top}, {width - right, height - bottom}, cv::Scalar(200, 200, 200));
    auto px = [&](double x, double y) {
        return cv::Point(left + static_cast<int>((width - left - right) * (tx(x) - xlo) / (xhi - xlo)),
                         top + static_cast<int>((height - top - bottom) * (yhi - ty(y)) / (yhi - ylo)));
    };
    char buf[64];
    for (int i = 0; i <= 4; ++i) {  // axis ticks
        const double fx = xlo + (xhi - xlo) * i / 4, fy = ylo + (yhi - ylo) * i / 4;
        std::snprintf(buf, sizeof buf, "%.3g", log_x ? std::pow(10.0, fx) : fx);
        const int x = left + (width - left - right) * i / 4;
        cv::putText(img, buf, {x - 10, height - bottom + 16}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
        std::snprintf(buf, sizeof buf, "%.3g", log_y ? std::pow(10.0, fy) : fy);
        const int y = height - bottom - (height - top - bottom) * i / 4;
        cv::putText(img, buf, {6, y + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    }
    cv::putText(img, x_label, {left + (width - left - right) / 2 - 20, height - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.45,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    cv::putText(img, y_label, {6, top - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    cv::putText(img, title, {left, 20}, cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    for (size_t k = 0; k < series.size(); ++k) {
        const XYSeries& s = series[k];
        const cv::Scalar c = bgr(s.rgb);
        std::vector<cv::Point> pts;
        for (size_t i = 0; i < s.x.size(); ++i)
            if (std::isfinite(s.y[i])) pts.push_back(px(s.x[i], s.y[i]));
        cv::polylines(img, pts, false, c, 2, cv::LINE_AA);
        for (const cv::Point& p : pts) cv::circle(img, p, 4, c, cv::FILLED, cv::LINE_AA);
        const int ly = top + 16 + 20 * static_cast<int>(k);
        cv::line(img, {width - right + 10, ly - 4}, {width - right + 30, ly - 4}, c, 2, cv::LINE_AA);
        cv::putText(img, s.label, {width - right + 36, ly}, cv::FONT_HERSHEY_SIMPLEX, 0.42, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    }
    write_png(path, img, text);
}

void write_curve_png(const std::string& path, const std::string& title, const std::vector<float>& values, bool log_y,
                     int width, int height, const PngText& text, int64_t first_step) {
    RFLOW_CHECK(!values.empty(), "write_curve_png: no values for " << path);
    cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
    const int left = 60, right = 14, top = 30, bottom = 42;
    auto tr = [&](float v) { return log_y ? std::log10(std::max(v, 1e-12f)) : v; };
    const size_t n = values.size();
    // TensorBoard's debiased exponential moving average, span about n / 50 points
    const double a = 1.0 - 1.0 / std::max(1.0, static_cast<double>(n) / 50.0);
    std::vector<float> smooth(n, NAN);
    double s = 0, weight = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(values[i])) continue;
        s = a * s + (1 - a) * values[i];
        weight = a * weight + (1 - a);
        smooth[i] = static_cast<float>(s / weight);
    }
    float lo = INFINITY, hi = -INFINITY;
    for (float v : values)
        if (std::isfinite(v)) lo = std::min(lo, tr(v)), hi = std::max(hi, tr(v));
    if (!(hi >= lo)) lo = 0, hi = 1;  // no finite value
    if (hi - lo < 1e-6f) hi = lo + 1.f;
    const int plot_w = width - left - right, plot_h = height - top - bottom;
    cv::rectangle(img, {left, top}, {width - right, height - bottom}, cv::Scalar(200, 200, 200));
    auto x_of = [&](double i) { return left + static_cast<int>(plot_w * (n > 1 ? i / (n - 1) : 0.5)); };
    auto curve = [&](const std::vector<float>& v) {
        std::vector<cv::Point> pts;
        for (size_t i = 0; i < n; ++i)
            if (std::isfinite(v[i])) pts.emplace_back(x_of(static_cast<double>(i)), top + static_cast<int>(plot_h * (hi - tr(v[i])) / (hi - lo)));
        return pts;
    };
    cv::polylines(img, curve(values), false, cv::Scalar(230, 200, 170), 1, cv::LINE_AA);  // raw, pale
    cv::polylines(img, curve(smooth), false, cv::Scalar(180, 119, 31), 2, cv::LINE_AA);   // smoothed
    // x axis in steps: ticks at a 1-2-5 multiple giving at most 6 intervals
    const double last = static_cast<double>(first_step) + static_cast<double>(n) - 1;
    const double range = std::max(1.0, last - static_cast<double>(first_step));
    double tick = std::pow(10.0, std::floor(std::log10(range / 6)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (range / (tick * m) <= 6) {
            tick *= m;
            break;
        }
    char buf[64];
    for (double v = std::ceil(first_step / tick) * tick; v <= last + 1e-9; v += tick) {
        const int x = x_of(v - static_cast<double>(first_step));
        cv::line(img, {x, height - bottom}, {x, height - bottom + 4}, cv::Scalar(120, 120, 120));
        std::snprintf(buf, sizeof buf, "%.0f", v);
        cv::putText(img, buf, {x - 3 * static_cast<int>(std::strlen(buf)), height - bottom + 16},
                    cv::FONT_HERSHEY_SIMPLEX, 0.35, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    }
    cv::putText(img, "step", {left + plot_w / 2 - 12, height - 6}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    std::snprintf(buf, sizeof buf, log_y ? "%.3g" : "%.4g", log_y ? std::pow(10.f, hi) : hi);
    cv::putText(img, buf, {4, top + 10}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    std::snprintf(buf, sizeof buf, log_y ? "%.3g" : "%.4g", log_y ? std::pow(10.f, lo) : lo);
    cv::putText(img, buf, {4, height - bottom}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    cv::putText(img, title, {left, 20}, cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    cv::putText(img, "smoothed", {width - right - 150, 20}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(180, 119, 31), 1,
                cv::LINE_AA);
    cv::putText(img, "raw", {width - right - 70, 20}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(230, 200, 170), 1,
                cv::LINE_AA);
    write_png(path, img, text);
}

#else

bool png_supported() { return false; }

std::array<uint8_t, 3> palette(size_t i) {
    static const std::array<uint8_t, 3> colors[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                                    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
    return colors[i % 8];
}

void write_trajectories_png(const std::string& path, const std::vector<Tensor>&, const std::string&, float, int,
                            const Tensor&, int, const PngText&) {
    RFLOW_FAIL("cannot write " << path << ": this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
}

void write_xy_png(const std::string& path, const std::string&, const std::string&, const std::string&,
                  const std::vector<XYSeries>&, bool, bool, int, int, const PngText&) {
    RFLOW_FAIL("cannot write " << path << ": this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
}

void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>&, float, int, const std::string&, int,
                       const PngText&) {
    RFLOW_FAIL("cannot write " << path << ": this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
}

void write_curve_png(const std::string& path, const std::string&, const std::vector<float>&, bool, int, int, const PngText&,
                     int64_t) {
    RFLOW_FAIL("cannot write " << path << ": this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
}

#endif

}  // namespace rflow::io
