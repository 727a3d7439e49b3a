// Crash-safe file writes (temp file in the same directory, fsync, rename) and whole-file reads,
// both retried from scratch on transient errors (rflow/io/file_retry.hpp).
#include "rflow/io/atomic_file.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rflow/error.hpp"
#include "rflow/io/fault_injection.hpp"
#include "rflow/io/file_retry.hpp"
#include "rflow/retry.hpp"

namespace rflow::io {

namespace {

std::string errno_text(int err) { return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")"; }

std::string parent_dir(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// One attempt: a fresh temp file, written, flushed, fsynced and renamed over `path`. On failure the
// temp file is removed and the error says which step failed (TransientIOError for EINTR & co).
void write_once(const std::string& path, const void* data, size_t n) {
    static std::atomic<unsigned long> counter{0};
    const std::string tmp = path + ".tmp." + std::to_string(static_cast<long>(::getpid())) + "." +
                            std::to_string(counter.fetch_add(1));
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) {
        const int err = errno;
        RFLOW_IO_FAIL(err, "cannot write '" << path << "': cannot create temporary file '" << tmp
                                            << "': " << errno_text(err));
    }
    const char* step = nullptr;
    int err = 0;
    if (const int fake = testing::take_fault(testing::FaultSite::write)) {
        err = fake;
        step = "write";
    } else if (n > 0 && std::fwrite(data, 1, n, f) != n) {
        err = errno;
        step = "write";
    } else if (std::fflush(f) != 0) {
        err = errno;
        step = "flush";
    } else if (::fsync(::fileno(f)) != 0) {
        err = errno;
        step = "fsync";
    }
    if (std::fclose(f) != 0 && !step) {
        err = errno;
        step = "close";
    }
    if (!step && std::rename(tmp.c_str(), path.c_str()) != 0) {
        err = errno;
        step = "rename";
    }
    if (step) {
        std::remove(tmp.c_str());
        RFLOW_IO_FAIL(err, "cannot write '" << path << "': " << step << " failed: " << errno_text(err));
    }
    // Make the rename itself durable; failure here does not tear the file, so it is not an error.
    const int dfd = ::open(parent_dir(path).c_str(), O_RDONLY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

// One attempt at reading the whole file.
std::vector<uint8_t> read_once(const std::string& path) {
    if (const int fake = testing::take_fault(testing::FaultSite::read))
        RFLOW_IO_FAIL(fake, "cannot open '" << path << "' for reading: " << errno_text(fake));
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        const int err = errno;
        RFLOW_IO_FAIL(err, "cannot open '" << path << "' for reading: " << errno_text(err));
    }
    std::vector<uint8_t> out;
    struct stat st;
    if (::fstat(::fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        out.reserve(static_cast<size_t>(st.st_size));
    uint8_t buf[1 << 16];
    for (;;) {
        const size_t got = std::fread(buf, 1, sizeof buf, f);
        out.insert(out.end(), buf, buf + got);
        if (got < sizeof buf) break;
    }
    const bool failed = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (failed) RFLOW_IO_FAIL(err, "cannot read '" << path << "': " << errno_text(err));
    return out;
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t n) {
    RFLOW_CHECK(!path.empty(), "write_file_atomic: empty path");
    with_file_retries([&] { write_once(path, data, n); });
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::vector<uint8_t> out;
    with_file_retries([&] { out = read_once(path); });
    return out;
}

}  // namespace rflow::io
