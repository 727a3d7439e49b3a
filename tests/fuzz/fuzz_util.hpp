// Shared helpers of the libFuzzer targets (tests/fuzz/README in docs/reliability.md).
//
// Contract checked by every target: a parser either returns or throws rflow::Error. Anything else
// (another exception type, a crash, a sanitizer report, a leak, a hang) is a finding: the target
// catches rflow::Error only, so any other exception escapes, reaches std::terminate and libFuzzer
// records the input as a crash.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace fuzz {

// A private scratch directory for this process (parsers that only take a path read the input from
// a file in it); removed at exit.
inline const std::string& scratch_dir() {
    static const std::string dir = [] {
        const char* base = std::getenv("TMPDIR");
        std::string templ = std::string(base && *base ? base : "/tmp") + "/rflow-fuzz-XXXXXX";
        if (!mkdtemp(templ.data())) {
            std::perror("mkdtemp");
            std::abort();
        }
        static std::string keep;
        keep = templ;
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(keep, ec);
        });
        return templ;
    }();
    return dir;
}

// Writes `size` bytes to `name` inside the scratch directory (replacing it) and returns the path.
inline std::string write_temp(const std::string& name, const uint8_t* data, size_t size) {
    const std::string path = scratch_dir() + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        std::perror(path.c_str());
        std::abort();
    }
    if (size && std::fwrite(data, 1, size, f) != size) {
        std::perror(path.c_str());
        std::abort();
    }
    std::fclose(f);
    return path;
}

// A property violated on an accepted input (e.g. a round trip that does not reproduce it).
[[noreturn]] inline void property_failed(const char* what) {
    std::fprintf(stderr, "FUZZ PROPERTY VIOLATED: %s\n", what);
    std::abort();
}

}  // namespace fuzz
