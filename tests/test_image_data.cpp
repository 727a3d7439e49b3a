// Image data: IDX files (gzip and plain, every malformed case), the real Fashion-MNIST when
// installed, image folders, and shuffled/flipped batches with exact resume.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include <sys/stat.h>

#include <rflow/data/idx.hpp>
#include <rflow/data/image_batches.hpp>
#include <rflow/data/image_folder.hpp>
#include <rflow/error.hpp>
#include <rflow/io/image.hpp>
#include <rflow/io/plot.hpp>
#include <rflow/philox.hpp>

#include "image_test_util.hpp"

using namespace rflow;
using namespace rflow::testing;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- IDX

TEST_CASE("IDX images and labels round trip through gzip and plain files") {
    const fs::path dir = temp_dir("idx");
    std::vector<uint8_t> pixels(3 * 4 * 5);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t((i * 37) % 256);
    pixels[0] = 0;
    pixels[1] = 255;
    const std::vector<uint8_t> labels = {7, 0, 9};
    for (bool gz : {true, false}) {
        CAPTURE(gz);
        const fs::path ip = dir / (gz ? "img.gz" : "img"), lp = dir / (gz ? "lab.gz" : "lab");
        (gz ? write_gz : write_plain)(ip, idx_bytes(0x803, {3, 4, 5}, pixels));
        (gz ? write_gz : write_plain)(lp, idx_bytes(0x801, {3}, labels));
        const data::IdxImages im = data::read_idx_images(ip.string());
        CHECK(im.images.shape() == Shape{3, 1, 4, 5});
        CHECK(im.count == 3);
        CHECK(im.height == 4);
        CHECK(im.width == 5);
        const std::vector<float> v = im.images.to_vector();
        for (size_t i = 0; i < pixels.size(); ++i) REQUIRE(v[i] == from_byte(pixels[i]));
        CHECK(v[0] == -1.f);
        CHECK(v[1] == 1.f);
        CHECK(data::read_idx_labels(lp.string()) == std::vector<int64_t>{7, 0, 9});
    }
}

TEST_CASE("malformed IDX files give errors naming the file") {
    const fs::path dir = temp_dir("idx_bad");
    const std::vector<uint8_t> px(2 * 3 * 3, 17);
    for (bool gz : {true, false}) {
        CAPTURE(gz);
        auto write = gz ? write_gz : write_plain;
        const std::string sfx = gz ? ".gz" : "";

        const std::string missing = (dir / ("missing" + sfx)).string();
        std::string e = error_of([&] { data::read_idx_images(missing); });
        CHECK(contains(e, missing));

        const fs::path magic = dir / ("magic" + sfx);
        write(magic, idx_bytes(0x801, {2}, {1, 2}));
        e = error_of([&] { data::read_idx_images(magic.string()); });
        CHECK(contains(e, magic.string()));
        CHECK(contains(e, "magic"));
        e = error_of([&] { data::read_idx_labels((dir / "x").string()); });
        CHECK(contains(e, (dir / "x").string()));
        write(magic, idx_bytes(0x803, {2, 3, 3}, px));
        e = error_of([&] { data::read_idx_labels(magic.string()); });
        CHECK(contains(e, magic.string()));
        CHECK(contains(e, "magic"));

        const fs::path trunc = dir / ("trunc" + sfx);
        write(trunc, idx_bytes(0x803, {3, 3, 3}, px));  // header says 27 bytes, 18 follow
        e = error_of([&] { data::read_idx_images(trunc.string()); });
        CHECK(contains(e, trunc.string()));
        CHECK(contains(e, "truncated"));
        write(trunc, idx_bytes(0x801, {5}, {1, 2, 3}));
        e = error_of([&] { data::read_idx_labels(trunc.string()); });
        CHECK(contains(e, trunc.string()));
        CHECK(contains(e, "truncated"));
        write(trunc, {0, 0, 8, 3, 0, 0});  // header cut inside the dimensions
        e = error_of([&] { data::read_idx_images(trunc.string()); });
        CHECK(contains(e, trunc.string()));
        CHECK(contains(e, "truncated"));
        write(trunc, {0, 0});
        e = error_of([&] { data::read_idx_images(trunc.string()); });
        CHECK(contains(e, trunc.string()));
        CHECK(contains(e, "short"));

        const fs::path extra = dir / ("extra" + sfx);
        std::vector<uint8_t> more = px;
        more.push_back(1);
        write(extra, idx_bytes(0x803, {2, 3, 3}, more));
        e = error_of([&] { data::read_idx_images(extra.string()); });
        CHECK(contains(e, extra.string()));
        CHECK(contains(e, "after"));

        const fs::path huge = dir / ("huge" + sfx);
        write(huge, idx_bytes(0x803, {0xffffffffu, 0xffffffffu, 0xffffffffu}, px));
        e = error_of([&] { data::read_idx_images(huge.string()); });
        CHECK(contains(e, huge.string()));
        CHECK(contains(e, "overflow"));
        // Large but representable: refused as truncated without allocating the claimed size.
        write(huge, idx_bytes(0x803, {0x7fffffffu, 0x7fffu, 0xffu}, px));
        e = error_of([&] { data::read_idx_images(huge.string()); });
        CHECK(contains(e, huge.string()));
        CHECK(contains(e, "truncated"));
        // Zero images of enormous sides (fuzz finding): the zero count must not hide the sides.
        write(huge, idx_bytes(0x803, {0u, 0xc70000ffu, 0xffffff1cu}, {}));
        e = error_of([&] { data::read_idx_images(huge.string()); });
        CHECK(contains(e, huge.string()));
        CHECK(contains(e, "overflow"));
    }
    // A gzip stream cut short.
    const fs::path cut = dir / "cut.gz";
    std::vector<uint8_t> big(5000 * 28);
    for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 7919 % 251);
    write_gz(cut, idx_bytes(0x803, {5000, 28, 1}, big));
    std::vector<uint8_t> bytes = read_bytes(cut);
    bytes.resize(bytes.size() / 2);
    write_plain(cut, bytes);
    const std::string e = error_of([&] { data::read_idx_images(cut.string()); });
    CHECK(contains(e, cut.string()));
}

TEST_CASE("load_fashion_mnist checks files and counts") {
    const fs::path dir = temp_dir("fmnist");
    std::string e = error_of([&] { data::load_fashion_mnist((dir / "nope").string()); });
    CHECK(contains(e, (dir / "nope").string()));
    e = error_of([&] { data::load_fashion_mnist(dir.string()); });
    CHECK(contains(e, "train-images-idx3-ubyte"));

    write_gz(dir / "train-images-idx3-ubyte.gz", idx_bytes(0x803, {3, 2, 2}, std::vector<uint8_t>(12, 255)));
    write_gz(dir / "train-labels-idx1-ubyte.gz", idx_bytes(0x801, {2}, {1, 2}));
    e = error_of([&] { data::load_fashion_mnist(dir.string()); });
    CHECK(contains(e, (dir / "train-images-idx3-ubyte.gz").string()));
    CHECK(contains(e, (dir / "train-labels-idx1-ubyte.gz").string()));
    CHECK(contains(e, "disagree"));

    write_plain(dir / "t10k-images-idx3-ubyte", idx_bytes(0x803, {2, 2, 2}, std::vector<uint8_t>(8, 0)));
    write_plain(dir / "t10k-labels-idx1-ubyte", idx_bytes(0x801, {2}, {4, 5}));
    const data::MnistSplit s = data::load_fashion_mnist(dir.string(), false);
    CHECK(s.images.shape() == Shape{2, 1, 2, 2});
    CHECK(s.labels == std::vector<int64_t>{4, 5});
    CHECK(data::fashion_mnist_class_names().size() == 10);
}

TEST_CASE("the installed Fashion-MNIST loads") {
    const std::string dir = "/usr/share/datasets/fashion-mnist";
    if (!fs::is_directory(dir)) {
        MESSAGE("skipped: " << dir << " is missing (apt install dataset-fashion-mnist)");
        return;
    }
    for (bool train : {true, false}) {
        CAPTURE(train);
        const int64_t n = train ? 60000 : 10000;
        const data::MnistSplit s = data::load_fashion_mnist(dir, train);
        CHECK(s.images.shape() == Shape{n, 1, 28, 28});
        REQUIRE(static_cast<int64_t>(s.labels.size()) == n);
        std::vector<int64_t> count(10, 0);
        for (int64_t l : s.labels) {
            REQUIRE(l >= 0);
            REQUIRE(l < 10);
            ++count[l];
        }
        for (int64_t c : count) CHECK(c == n / 10);
        const float* p = s.images.data();
        const auto [lo, hi] = std::minmax_element(p, p + s.images.numel());
        CHECK(*lo == -1.f);
        CHECK(*hi == 1.f);
        double mean = 0;
        for (int64_t i = 0; i < s.images.numel(); ++i) mean += p[i];
        mean /= double(s.images.numel());
        CHECK(mean > -0.6);  // mostly dark background, but far from all -1 (mean byte ~73)
        CHECK(mean < -0.3);
    }
}

// ---------------------------------------------------------------- image folder

TEST_CASE("image folders load with labels from sub-folders, resized and centre-cropped") {
    if (!io::png_supported()) {
        MESSAGE("skipped: built without OpenCV");
        return;
    }
    const fs::path dir = temp_dir("folder");
    fs::create_directories(dir / "dogs" / "puppies");
    fs::create_directories(dir / "cats");
    fs::create_directories(dir / ".hidden");
    // cats/a.png: 8 x 12 (H x W), thirds of 4 columns in red, green, blue.
    std::vector<float> v(3 * 8 * 12, -1.f);
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 12; ++x) v[(x / 4) * 96 + y * 12 + x] = 1.f;
    io::write_image_png((dir / "cats" / "a.png").string(), Tensor::from_vector(v, {3, 8, 12}));
    io::write_image_png((dir / "dogs" / "b.PNG").string(), solid(3, 3, 2, {10, 200, 90}));  // enlarged
    io::write_image_png((dir / "dogs" / "puppies" / "c.png").string(), solid(1, 4, 4, {60}));
    io::write_image_png((dir / ".hidden" / "d.png").string(), solid(1, 4, 4, {0}));
    io::write_image_png((dir / "cats" / ".e.png").string(), solid(1, 4, 4, {0}));
    std::ofstream(dir / "cats" / "notes.txt") << "not an image";

    const data::ImageFolder f = data::load_image_folder(dir.string(), 4);
    CHECK(f.images.shape() == Shape{3, 3, 4, 4});
    CHECK(f.class_names == std::vector<std::string>{"cats", "dogs"});
    CHECK(f.labels == std::vector<int64_t>{0, 1, 1});
    REQUIRE(f.paths.size() == 3);
    CHECK(f.paths[0] == (dir / "cats" / "a.png").string());
    CHECK(f.paths[1] == (dir / "dogs" / "b.PNG").string());
    CHECK(f.paths[2] == (dir / "dogs" / "puppies" / "c.png").string());
    const std::vector<float> x = f.images.to_vector();
    // a.png shrinks by 2 to 4 x 6: columns red, red, green, green, blue, blue; the crop keeps 1..4.
    const int expect_channel[4] = {0, 1, 1, 2};
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 4; ++y)
            for (int xx = 0; xx < 4; ++xx) {
                CAPTURE(c);
                CAPTURE(y);
                CAPTURE(xx);
                REQUIRE(x[c * 16 + y * 4 + xx] == (expect_channel[xx] == c ? 1.f : -1.f));
            }
    for (int i = 0; i < 16; ++i) {  // b.png: solid RGB colour survives enlarging, in RGB order
        REQUIRE(x[48 + i] == from_byte(10));
        REQUIRE(x[48 + 16 + i] == from_byte(200));
        REQUIRE(x[48 + 32 + i] == from_byte(90));
    }
    for (int i = 0; i < 48; ++i) REQUIRE(x[96 + i] == from_byte(60));  // grey file read as RGB

    const data::ImageFolder g = data::load_image_folder(dir.string(), 2, 1, false);
    CHECK(g.images.shape() == Shape{3, 1, 2, 2});
    CHECK(g.labels == std::vector<int64_t>{0, 0, 0});
    CHECK(g.class_names.empty());
    const std::vector<float> gv = g.images.to_vector();
    // grey of (10, 200, 90): 0.299 R + 0.587 G + 0.114 B = 130.4
    CHECK(std::abs(to_byte(gv[4]) - 130) <= 1);

    // Errors: an undecodable file (named), an image outside any class folder, empty and missing folders.
    std::ofstream(dir / "dogs" / "broken.jpg") << "this is not a JPEG";
    std::string e = error_of([&] { data::load_image_folder(dir.string(), 4); });
    CHECK(contains(e, (dir / "dogs" / "broken.jpg").string()));
    fs::remove(dir / "dogs" / "broken.jpg");
    io::write_image_png((dir / "root.png").string(), solid(1, 2, 2, {0}));
    e = error_of([&] { data::load_image_folder(dir.string(), 4); });
    CHECK(contains(e, (dir / "root.png").string()));
    CHECK(data::load_image_folder(dir.string(), 4, 3, false).images.size(0) == 4);
    const fs::path empty = temp_dir("folder_empty");
    fs::create_directories(empty / "cls");
    std::ofstream(empty / "cls" / "x.txt") << "text";
    e = error_of([&] { data::load_image_folder(empty.string(), 4); });
    CHECK(contains(e, empty.string()));
    CHECK(contains(e, "no image"));
    e = error_of([&] { data::load_image_folder((empty / "nope").string(), 4); });
    CHECK(contains(e, (empty / "nope").string()));
    CHECK_THROWS_AS(data::load_image_folder(dir.string(), 0), Error);
    CHECK_THROWS_AS(data::load_image_folder(dir.string(), 4, 2), Error);
}

// ---------------------------------------------------------------- batches

namespace {

// N images [1, 2, 3] whose pixel (y, x) of sample i is 100 i + 10 y + x; label 2 i.
std::pair<Tensor, std::vector<int64_t>> indexed_dataset(int64_t n) {
    std::vector<float> v(static_cast<size_t>(n * 6));
    std::vector<int64_t> labels(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        labels[i] = 2 * i;
        for (int y = 0; y < 2; ++y)
            for (int x = 0; x < 3; ++x) v[i * 6 + y * 3 + x] = float(100 * i + 10 * y + x);
    }
    return {Tensor::from_vector(v, {n, 1, 2, 3}), labels};
}

// Checks that the batch's pixels and labels are those of its indices, mirrored where flagged.
void check_batch_content(const data::ImageBatch& b) {
    const int64_t m = static_cast<int64_t>(b.indices.size());
    REQUIRE(b.x.shape() == Shape{m, 1, 2, 3});
    REQUIRE(b.labels.size() == b.indices.size());
    REQUIRE(b.flipped.size() == b.indices.size());
    const std::vector<float> v = b.x.to_vector();
    for (int64_t k = 0; k < m; ++k) {
        REQUIRE(b.labels[k] == 2 * b.indices[k]);
        for (int y = 0; y < 2; ++y)
            for (int x = 0; x < 3; ++x) {
                const int sx = b.flipped[k] ? 2 - x : x;
                REQUIRE(v[k * 6 + y * 3 + x] == float(100 * b.indices[k] + 10 * y + sx));
            }
    }
}

bool same_batch(const data::ImageBatch& a, const data::ImageBatch& b) {
    return a.indices == b.indices && a.flipped == b.flipped && a.labels == b.labels && a.epoch == b.epoch &&
           a.x.to_vector() == b.x.to_vector();
}

}  // namespace

TEST_CASE("ImageBatches visits every sample once per epoch, reproducibly") {
    auto [images, labels] = indexed_dataset(10);
    data::ImageBatchesOptions opt;
    opt.batch_size = 4;
    data::ImageBatches a(images, labels, Generator(42), opt), b(images, labels, Generator(42), opt);
    CHECK(a.batches_per_epoch() == 3);
    std::vector<std::vector<int64_t>> orders;
    for (int epoch = 0; epoch < 4; ++epoch) {
        std::vector<int64_t> seen;
        for (int64_t expect : {4, 4, 2}) {
            const data::ImageBatch x = a.next(), y = b.next();
            CHECK(x.epoch == epoch);
            CHECK(static_cast<int64_t>(x.indices.size()) == expect);
            CHECK(same_batch(x, y));
            check_batch_content(x);
            CHECK(std::all_of(x.flipped.begin(), x.flipped.end(), [](uint8_t f) { return f == 0; }));
            seen.insert(seen.end(), x.indices.begin(), x.indices.end());
        }
        std::vector<int64_t> sorted = seen;
        std::sort(sorted.begin(), sorted.end());
        std::vector<int64_t> all(10);
        for (int64_t i = 0; i < 10; ++i) all[i] = i;
        CHECK(sorted == all);
        orders.push_back(seen);
    }
    CHECK(std::set<std::vector<int64_t>>(orders.begin(), orders.end()).size() == orders.size());
    data::ImageBatches c(images, labels, Generator(43), opt);
    CHECK(c.next().indices != orders[0]);

    opt.drop_last = true;
    data::ImageBatches d(images, labels, Generator(42), opt);
    CHECK(d.batches_per_epoch() == 2);
    CHECK(d.next().indices == std::vector<int64_t>(orders[0].begin(), orders[0].begin() + 4));
    CHECK(d.next().epoch == 0);
    const data::ImageBatch third = d.next();
    CHECK(third.epoch == 1);
    CHECK(third.indices.size() == 4);

    data::ImageBatches unlabeled(images, {}, Generator(42), opt);
    CHECK(unlabeled.next().labels.empty());
    opt.batch_size = 11;
    CHECK_THROWS_AS(data::ImageBatches(images, labels, Generator(1), opt), Error);
    opt.batch_size = 0;
    CHECK_THROWS_AS(data::ImageBatches(images, labels, Generator(1), opt), Error);
    opt.batch_size = 2;
    CHECK_THROWS_AS(data::ImageBatches(images, std::vector<int64_t>(3), Generator(1), opt), Error);
}

TEST_CASE("ImageBatches flips mirror exactly the flagged samples, about half of them") {
    auto [images, labels] = indexed_dataset(1000);
    data::ImageBatchesOptions opt;
    opt.batch_size = 64;
    opt.random_flip = true;
    data::ImageBatches a(images, labels, Generator(7), opt);
    opt.random_flip = false;
    data::ImageBatches plain(images, labels, Generator(7), opt);
    int64_t flips = 0, total = 0;
    std::vector<int> flipped_first(1000, -1);
    for (int64_t k = 0; k < a.batches_per_epoch() * 2; ++k) {
        const data::ImageBatch b = a.next(), p = plain.next();
        check_batch_content(b);
        CHECK(b.indices == p.indices);  // flips do not change the order
        for (size_t i = 0; i < b.flipped.size(); ++i) {
            flips += b.flipped[i];
            ++total;
            if (b.epoch == 0) flipped_first[b.indices[i]] = b.flipped[i];
        }
    }
    CHECK(total == 2000);
    CHECK(flips > 900);  // binomial(2000, 1/2): 1000 +- 22
    CHECK(flips < 1100);
}

TEST_CASE("ImageBatches state round trip resumes identically, across epoch boundaries") {
    auto [images, labels] = indexed_dataset(23);
    data::ImageBatchesOptions opt;
    opt.batch_size = 5;
    opt.random_flip = true;
    for (int cut : {0, 2, 4, 5, 7}) {  // 5 batches per epoch: 4 and 5 sit at the epoch's end
        CAPTURE(cut);
        data::ImageBatches a(images, labels, Generator(99, 3), opt);
        for (int k = 0; k < cut; ++k) a.next();
        const data::ImageBatchesState s = a.state();
        std::vector<data::ImageBatch> rest;
        for (int k = 0; k < 12; ++k) rest.push_back(a.next());
        data::ImageBatches b(images, labels, Generator(12345), opt);
        b.next();
        b.set_state(s);
        CHECK(b.epoch() == s.epoch);
        CHECK(b.position() == s.position);
        for (int k = 0; k < 12; ++k) REQUIRE(same_batch(b.next(), rest[k]));
    }
    data::ImageBatches a(images, labels, Generator(1), opt);
    auto [other, other_labels] = indexed_dataset(22);
    data::ImageBatches b(other, other_labels, Generator(1), opt);
    CHECK_THROWS_AS(b.set_state(a.state()), Error);
}

// ---------------------------------------------------------------- hostile inputs

namespace {

/// The first 33 bytes of a PNG claiming width x height pixels (signature and IHDR; no pixels).
std::vector<uint8_t> png_header(uint32_t width, uint32_t height) {
    std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (uint32_t v : {width, height})
        for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
    b.insert(b.end(), {8, 2, 0, 0, 0, 0, 0, 0, 0});  // 8-bit RGB, then a (wrong) CRC
    return b;
}

}  // namespace

TEST_CASE("load_fashion_mnist refuses an empty split and labels past the ten classes") {
    const fs::path dir = temp_dir("fmnist_hostile");
    write_plain(dir / "train-images-idx3-ubyte", idx_bytes(0x803, {0, 2, 2}, {}));
    write_plain(dir / "train-labels-idx1-ubyte", idx_bytes(0x801, {0}, {}));
    std::string e = error_of([&] { data::load_fashion_mnist(dir.string()); });
    CHECK(contains(e, (dir / "train-images-idx3-ubyte").string()));
    CHECK(contains(e, "no images"));

    write_plain(dir / "train-images-idx3-ubyte", idx_bytes(0x803, {2, 2, 2}, std::vector<uint8_t>(8, 0)));
    write_plain(dir / "train-labels-idx1-ubyte", idx_bytes(0x801, {2}, {3, 10}));
    e = error_of([&] { data::load_fashion_mnist(dir.string()); });
    CHECK(contains(e, (dir / "train-labels-idx1-ubyte").string()));
    CHECK(contains(e, "label 1 is 10 (expected 0 to 9)"));
}

TEST_CASE("IDX reading refuses a FIFO instead of waiting for a writer") {
    const fs::path dir = temp_dir("idx_fifo");
    const fs::path fifo = dir / "labels-fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const std::string e = error_of([&] { data::read_idx_labels(fifo.string()); });
    CHECK(contains(e, fifo.string()));
    CHECK(contains(e, "not a regular file"));
}

TEST_CASE("images too large to decode are refused from their header, naming the file") {
    if (!io::png_supported()) {
        MESSAGE("skipped: built without OpenCV");
        return;
    }
    const fs::path dir = temp_dir("huge_images");
    write_plain(dir / "wide.png", png_header(100000, 10));
    write_plain(dir / "tall.png", png_header(16384, 16385));
    for (const char* name : {"wide.png", "tall.png"}) {
        const std::string e = error_of([&] { io::read_image((dir / name).string()); });
        INFO(e);
        CHECK(contains(e, (dir / name).string()));
        CHECK(contains(e, "at most 16384 per side"));
    }
    write_plain(dir / "huge.png", png_header(16000, 16800));  // under the side limit, over 2^28 in all
    std::string e = error_of([&] { io::read_image((dir / "huge.png").string()); });
    CHECK(contains(e, "16000 x 16800 pixels"));
    const fs::path folder = dir / "folder";
    fs::create_directories(folder);
    write_plain(folder / "wide.png", png_header(100000, 10));
    e = error_of([&] { data::load_image_folder(folder.string(), 8, 3, false); });
    CHECK(contains(e, (folder / "wide.png").string()));
    CHECK(contains(e, "100000 x 10 pixels"));
}

TEST_CASE("image folders with symbolic link loops finish, each real folder read once") {
    if (!io::png_supported()) {
        MESSAGE("skipped: built without OpenCV");
        return;
    }
    const fs::path dir = temp_dir("link_loops");
    fs::create_directories(dir / "a" / "b");
    io::write_image_png((dir / "a" / "b" / "x.png").string(), solid(1, 4, 4, {60}));
    fs::create_directory_symlink("..", dir / "a" / "b" / "up");        // back to a
    fs::create_directory_symlink(dir, dir / "a" / "root");             // back to the top
    fs::create_directory_symlink(dir / "a" / "b", dir / "b_again");    // the same folder twice
    fs::create_symlink(dir / "self", dir / "self");                    // ELOOP on its own
    const data::ImageFolder f = data::load_image_folder(dir.string(), 4, 1, false);
    CHECK(f.paths.size() == 1);
}
