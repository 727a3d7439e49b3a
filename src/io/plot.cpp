// Scatter and curve PNGs drawn with OpenCV, encoded in memory and written atomically.
#include "rflow/io/plot.hpp"

#include <algorithm>
#include <cmath>

#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"

#ifdef RFLOW_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace rflow::io {

#ifdef RFLOW_HAVE_OPENCV

bool png_supported() { return true; }

namespace {

void write_png(const std::string& path, const cv::Mat& img) {
    std::vector<uchar> buf;
    RFLOW_CHECK(cv::imencode(".png", img, buf), "could not encode PNG for " << path);
    write_file_atomic(path, buf.data(), buf.size());
}

cv::Scalar bgr(const std::array<uint8_t, 3>& rgb) { return cv::Scalar(rgb[2], rgb[1], rgb[0]); }

}  // namespace

void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>& panels, float extent, int size,
                       const std::string& footer) {
    RFLOW_CHECK(!panels.empty(), "write_scatter_png: no panels for " << path);
    const int title_h = 28, footer_h = footer.empty() ? 0 : 24;
    cv::Mat img(size + title_h + footer_h, size * static_cast<int>(panels.size()), CV_8UC3, cv::Scalar(255, 255, 255));
    for (size_t p = 0; p < panels.size(); ++p) {
        const ScatterPanel& panel = panels[p];
        RFLOW_CHECK(panel.points.dim() == 2 && panel.points.size(1) == 2,
                    "write_scatter_png: panel '" << panel.title << "' needs points [N, 2], got "
                                                 << shape_str(panel.points.shape()));
        const int x0 = static_cast<int>(p) * size, y0 = title_h;
        cv::rectangle(img, {x0 + 1, y0}, {x0 + size - 2, y0 + size - 1}, cv::Scalar(200, 200, 200));
        // axes through the origin
        cv::line(img, {x0 + size / 2, y0}, {x0 + size / 2, y0 + size - 1}, cv::Scalar(230, 230, 230));
        cv::line(img, {x0, y0 + size / 2}, {x0 + size - 1, y0 + size / 2}, cv::Scalar(230, 230, 230));
        cv::putText(img, panel.title, {x0 + 8, 20}, cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
        std::vector<float> v = panel.points.to_vector();
        const cv::Scalar color = bgr(panel.rgb);
        for (size_t i = 0; i + 1 < v.size(); i += 2) {
            if (!std::isfinite(v[i]) || !std::isfinite(v[i + 1])) continue;
            const int px = x0 + static_cast<int>((v[i] + extent) / (2 * extent) * size);
            const int py = y0 + static_cast<int>((extent - v[i + 1]) / (2 * extent) * size);
            if (px < x0 || px >= x0 + size || py < y0 || py >= y0 + size) continue;
            cv::circle(img, {px, py}, 1, color, cv::FILLED, cv::LINE_AA);
        }
    }
    if (!footer.empty())
        cv::putText(img, footer, {6, size + title_h + 17}, cv::FONT_HERSHEY_SIMPLEX, 0.42, cv::Scalar(60, 60, 60), 1,
                    cv::LINE_AA);
    write_png(path, img);
}

void write_curve_png(const std::string& path, const std::string& title, const std::vector<float>& values, bool log_y,
                     int width, int height) {
    RFLOW_CHECK(!values.empty(), "write_curve_png: no values for " << path);
    cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
    const int left = 60, right = 10, top = 30, bottom = 30;
    auto tr = [&](float v) { return log_y ? std::log10(std::max(v, 1e-12f)) : v; };
    float lo = tr(values[0]), hi = lo;
    for (float v : values)
        if (std::isfinite(v)) { lo = std::min(lo, tr(v)); hi = std::max(hi, tr(v)); }
    if (hi - lo < 1e-6f) hi = lo + 1.f;
    cv::rectangle(img, {left, top}, {width - right, height - bottom}, cv::Scalar(200, 200, 200));
    std::vector<cv::Point> pts;
    const size_t n = values.size();
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(values[i])) continue;
        const int x = left + static_cast<int>((width - left - right) * (n > 1 ? double(i) / (n - 1) : 0.5));
        const int y = top + static_cast<int>((height - top - bottom) * (hi - tr(values[i])) / (hi - lo));
        pts.emplace_back(x, y);
    }
    cv::polylines(img, pts, false, cv::Scalar(180, 119, 31), 1, cv::LINE_AA);
    char buf[64];
    std::snprintf(buf, sizeof buf, log_y ? "%.3g" : "%.4g", log_y ? std::pow(10.f, hi) : hi);
    cv::putText(img, buf, {4, top + 10}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    std::snprintf(buf, sizeof buf, log_y ? "%.3g" : "%.4g", log_y ? std::pow(10.f, lo) : lo);
    cv::putText(img, buf, {4, height - bottom}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    cv::putText(img, title, {left, 20}, cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    write_png(path, img);
}

#else

bool png_supported() { return false; }

void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>&, float, int, const std::string&) {
    RFLOW_FAIL("cannot write " << path << ": this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
}

void write_curve_png(const std::string& path, const std::string&, const std::vector<float>&, bool, int, int) {
    RFLOW_FAIL("cannot write " << path << ": this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
}

#endif

}  // namespace rflow::io
