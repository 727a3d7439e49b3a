// ImageFolder loading: recursive, sorted file discovery; file reads retried on transient errors;
// OpenCV decode, shorter-side resize and centre crop; labels from the top-level sub-folder names.
#include "rflow/data/image_folder.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "../io/image_decode.hpp"

#ifdef RFLOW_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace rflow::data {

namespace fs = std::filesystem;

namespace {

bool is_image_extension(const fs::path& p) {
    static const char* const exts[] = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".jp2",
                                       ".pbm", ".pgm",  ".ppm",  ".pnm", ".pxm", ".sr",  ".ras", ".hdr",  ".pic",  ".exr"};
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return std::find(std::begin(exts), std::end(exts), e) != std::end(exts);
}

bool is_hidden(const fs::path& p) {
    const std::string name = p.filename().string();
    return !name.empty() && name[0] == '.';
}

// Image files under dir, recursively, skipping hidden entries; sorted by path. Symbolic links to
// folders are followed, but each real folder is entered once: a link loop cannot recurse forever.
std::vector<fs::path> find_images(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    std::set<fs::path> entered{fs::weakly_canonical(dir, ec)};
    fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
    RFLOW_CHECK(!ec, "cannot list image folder '" << dir.string() << "': " << ec.message());
    for (; it != end; it.increment(ec)) {
        RFLOW_CHECK(!ec, "cannot list image folder '" << dir.string() << "': " << ec.message());
        const fs::path& p = it->path();
        if (it->is_directory(ec)) {
            std::error_code canon_ec;
            const fs::path real = fs::canonical(p, canon_ec);
            if (is_hidden(p) || canon_ec || !entered.insert(real).second) it.disable_recursion_pending();
            continue;
        }
        if (is_hidden(p)) continue;
        if (it->is_regular_file(ec) && is_image_extension(p)) out.push_back(p);
    }
    RFLOW_CHECK(!ec, "cannot list image folder '" << dir.string() << "': " << ec.message());
    std::sort(out.begin(), out.end());
    return out;
}

#ifdef RFLOW_HAVE_OPENCV

// Reads, resizes the shorter side to `size`, centre-crops and writes [C, size, size] floats.
void load_one(const std::string& path, int size, int channels, float* dst) {
    const cv::Mat img = io::detail::decode_image_file(path, channels);
    const int h = img.rows, w = img.cols;
    const int shorter = std::min(h, w);
    int nh = size, nw = size;
    if (h < w) nw = std::max(size, static_cast<int>(std::lround(double(w) * size / h)));
    else nh = std::max(size, static_cast<int>(std::lround(double(h) * size / w)));
    cv::Mat resized = img;
    if (nh != h || nw != w)
        cv::resize(img, resized, cv::Size(nw, nh), 0, 0, size < shorter ? cv::INTER_AREA : cv::INTER_LINEAR);
    const int y0 = (nh - size) / 2, x0 = (nw - size) / 2;
    const int64_t plane = int64_t(size) * size;
    for (int y = 0; y < size; ++y) {
        const uint8_t* row = resized.ptr<uint8_t>(y0 + y) + int64_t(x0) * channels;
        for (int x = 0; x < size; ++x)
            for (int k = 0; k < channels; ++k)  // BGR -> RGB
                dst[k * plane + int64_t(y) * size + x] = row[x * channels + (channels == 3 ? 2 - k : k)] / 127.5f - 1.f;
    }
}

#endif

}  // namespace

ImageFolder load_image_folder(const std::string& dir, int size, int channels, bool labels_from_subfolders) {
    RFLOW_CHECK(size >= 1, "load_image_folder('" << dir << "'): size must be at least 1, got " << size);
    RFLOW_CHECK(channels == 1 || channels == 3, "load_image_folder('" << dir << "'): channels must be 1 or 3, got " << channels);
    std::error_code ec;
    RFLOW_CHECK(fs::is_directory(dir, ec), "image folder '" << dir << "' does not exist or is not a directory");
#ifndef RFLOW_HAVE_OPENCV
    (void)labels_from_subfolders;
    RFLOW_FAIL("cannot load image folder '" << dir << "': this rflow was built without OpenCV (install libopencv-dev, reconfigure)");
#else
    const fs::path root(dir);
    const std::vector<fs::path> files = find_images(root);
    RFLOW_CHECK(!files.empty(), "image folder '" << dir << "' holds no image files (.png, .jpg, ...)");

    ImageFolder out;
    const int64_t n = static_cast<int64_t>(files.size());
    out.labels.assign(static_cast<size_t>(n), 0);
    if (labels_from_subfolders) {
        std::vector<std::string> top(files.size());
        for (size_t i = 0; i < files.size(); ++i) {
            const fs::path rel = files[i].lexically_relative(root);
            RFLOW_CHECK(std::distance(rel.begin(), rel.end()) >= 2,
                        "image '" << files[i].string() << "' is not inside a class sub-folder of '" << dir
                                  << "' (move it into one, or load without labels from sub-folders)");
            top[i] = rel.begin()->string();
        }
        std::map<std::string, int64_t> index;
        for (const std::string& t : top) index.emplace(t, 0);
        for (auto& [name, id] : index) {
            id = static_cast<int64_t>(out.class_names.size());
            out.class_names.push_back(name);
        }
        for (size_t i = 0; i < files.size(); ++i) out.labels[i] = index[top[i]];
    }
    const int64_t per = int64_t(channels) * size * size;
    out.images = Tensor::empty({n, channels, size, size});
    float* dst = out.images.data();
    for (const fs::path& f : files) out.paths.push_back(f.string());
    // Decode on a few threads (each image lands in its own slot, so the result does not depend on
    // the thread count); on failure report the error of the first bad file in path order.
    const int64_t workers = std::max<int64_t>(1, std::min<int64_t>({int64_t(std::thread::hardware_concurrency()), 8, n / 8}));
    std::atomic<int64_t> next{0};
    std::vector<std::pair<int64_t, std::string>> errors(static_cast<size_t>(workers), {n, ""});
    auto work = [&](int64_t wid) {
        for (int64_t i = next++; i < n; i = next++) {
            try {
                load_one(out.paths[static_cast<size_t>(i)], size, channels, dst + i * per);
            } catch (const std::exception& e) {
                auto& err = errors[static_cast<size_t>(wid)];
                if (i < err.first) err = {i, e.what()};
            }
        }
    };
    std::vector<std::thread> pool;
    for (int64_t t = 1; t < workers; ++t) pool.emplace_back(work, t);
    work(0);
    for (std::thread& t : pool) t.join();
    const auto first = std::min_element(errors.begin(), errors.end());
    if (first->first < n) throw Error(first->second);
    return out;
#endif
}

}  // namespace rflow::data
