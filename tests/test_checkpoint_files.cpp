// Files that hold training state: atomic writes and reads of regular files only (directories,
// FIFOs and devices refused), the clean-up of temporaries orphaned by killed runs, and checkpoint
// checks (finite values, range-checked resume metadata), each error naming the file and the key.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/safetensors.hpp"

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace rflow::io;

namespace {

using rflow::testing::TempDir;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// The rflow::Error message of running f, or "<no error>".
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const rflow::Error& e) {
        return e.what();
    }
    return "<no error>";
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

/// A pid that no process has: a child that has exited and been reaped.
long dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return static_cast<long>(child);
}

/// A one-tensor checkpoint with the given step and rng metadata and value.
Checkpoint tiny_checkpoint(float value) {
    Checkpoint c;
    c.model.emplace_back("w", rflow::Tensor::from_vector({1.f, value}, {2}));
    c.step = 3;
    c.rng = {1, 2, 8};
    c.config = "{\"model_config\": {}}";
    return c;
}

/// Writes tiny_checkpoint(1) with one metadata entry replaced (or added).
void write_with_metadata(const std::string& path, const std::string& key, const std::string& value) {
    save_checkpoint(path, tiny_checkpoint(1.f));
    SafetensorsFile f = read_safetensors(path);
    bool replaced = false;
    for (auto& [k, v] : f.metadata)
        if (k == key) v = value, replaced = true;
    if (!replaced) f.metadata.emplace_back(key, value);
    write_safetensors(path, f);
}

}  // namespace

TEST_CASE("atomic file write and read") {
    TempDir dir;
    const std::string path = dir.file("blob.bin");
    const std::string text = "hello";
    write_file_atomic(path, text.data(), text.size());
    CHECK(read_file(path) == std::vector<uint8_t>(text.begin(), text.end()));
    write_file_atomic(path, nullptr, 0);
    CHECK(read_file(path).empty());
    CHECK_THROWS_AS(read_file(dir.file("missing.bin")), rflow::Error);
    CHECK_THROWS_AS(read_file(dir.path.string()), rflow::Error);  // a directory
}

TEST_CASE("checkpoints: NaN or infinite tensors are refused, naming the file and the key") {
    TempDir dir;
    const std::string path = dir.file("nan.safetensors");
    save_checkpoint(path, tiny_checkpoint(NAN));
    std::string msg = error_of([&] { load_checkpoint(path); });
    CHECK(contains(msg, path));
    CHECK(contains(msg, "model.w"));
    CHECK(contains(msg, "finite"));
    save_weights(path, {{"w", rflow::Tensor::from_vector({INFINITY}, {1})}});
    msg = error_of([&] { load_weights(path); });
    CHECK(contains(msg, path));
    CHECK(contains(msg, "w: element 0 is inf"));
    save_checkpoint(path, tiny_checkpoint(2.f));
    CHECK(load_checkpoint(path).model.at(0).second.to_vector() == std::vector<float>{1.f, 2.f});
}

TEST_CASE("checkpoints: resume metadata is range-checked, naming the file and the key") {
    TempDir dir;
    const std::string path = dir.file("c.safetensors");
    const auto expect = [&](const std::string& key, const std::string& value, const std::string& phrase) {
        write_with_metadata(path, key, value);
        const std::string msg = error_of([&] { load_checkpoint(path); });
        INFO(key << " = '" << value << "': " << msg);
        CHECK(contains(msg, path));
        CHECK(contains(msg, "'" + key + "'"));
        CHECK(contains(msg, phrase));
    };
    expect("step", "-1", "expected 0 to");
    expect("step", "99999999999999999", "expected 0 to");
    expect("step", "99999999999999999999999", "not an integer");
    expect("step", "12abc", "not an integer");
    expect("rng", "1 2 -3", "three non-negative integers");
    expect("rng", "-1 2 3", "three non-negative integers");
    expect("rng", "1 2", "three non-negative integers");
    expect("rng", "1 2 3 4", "three non-negative integers");
    expect("rng", "1 2 18446744073709551615", "out of range");
    expect("config", "{\"a\": " + nested(200) + "}", "nested deeper than 64");
    write_with_metadata(path, "rng", "7 1 40");
    const Checkpoint ok = load_checkpoint(path);
    CHECK(ok.step == 3);
    CHECK(ok.rng == std::array<uint64_t, 3>{7, 1, 40});
}

TEST_CASE("read_file refuses directories, FIFOs and devices at once instead of blocking or reading forever") {
    TempDir dir;
    std::string msg = error_of([&] { read_file(dir.path.string()); });
    CHECK(contains(msg, "a directory, not a regular file"));
    const std::string fifo = dir.file("pipe");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    msg = error_of([&] { read_file(fifo); });  // no writer: would block forever if opened normally
    CHECK(contains(msg, fifo));
    CHECK(contains(msg, "FIFO"));
    msg = error_of([&] { read_file("/dev/zero"); });  // endless
    CHECK(contains(msg, "/dev/zero"));
    CHECK(contains(msg, "character device"));
    msg = error_of([&] { read_safetensors("/dev/null"); });
    CHECK(contains(msg, "/dev/null"));
}

TEST_CASE("remove_orphaned_temp_files removes only write_file_atomic temporaries of dead processes") {
    TempDir dir;
    const std::string dead = std::to_string(dead_pid()), self = std::to_string(::getpid());
    const std::vector<std::string> stale = {"checkpoint.safetensors.tmp." + dead + ".0", "metrics.jsonl.tmp." + dead + ".17"};
    const std::vector<std::string> kept = {"checkpoint.safetensors",
                                           "checkpoint.safetensors.tmp." + self + ".3",  // this process: maybe writing
                                           "checkpoint.safetensors.tmp.1.0",             // init: alive
                                           "notes.tmp." + dead,                          // no counter
                                           "x.tmp." + dead + ".1a",                      // not digits
                                           ".tmp." + dead + ".0",                        // no file name
                                           "plain.txt"};
    for (const auto& name : stale) write_file_atomic(dir.file(name), "x", 1);
    for (const auto& name : kept) write_file_atomic(dir.file(name), "x", 1);
    fs::create_directory(dir.file("folder.tmp." + dead + ".2"));  // a folder is never removed
    CHECK(remove_orphaned_temp_files(dir.path.string()) == 2);
    for (const auto& name : stale) CHECK_FALSE(fs::exists(dir.file(name)));
    for (const auto& name : kept) CHECK(fs::exists(dir.file(name)));
    CHECK(fs::exists(dir.file("folder.tmp." + dead + ".2")));
    CHECK(remove_orphaned_temp_files(dir.path.string()) == 0);
    CHECK(remove_orphaned_temp_files(dir.file("missing")) == 0);
}
