// Crash-safe file writes (temp file in the same directory, fsync, rename) and whole-file reads.
#include "rflow/io/atomic_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rflow/error.hpp"

namespace rflow::io {

namespace {

std::string errno_text(int err) { return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")"; }

std::string parent_dir(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t n) {
    RFLOW_CHECK(!path.empty(), "write_file_atomic: empty path");
    const std::string tmp = path + ".tmp." + std::to_string(static_cast<long>(::getpid()));
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) {
        const int err = errno;
        RFLOW_FAIL("cannot write '" << path << "': cannot create temporary file '" << tmp
                                    << "': " << errno_text(err));
    }
    const char* step = nullptr;
    int err = 0;
    if (n > 0 && std::fwrite(data, 1, n, f) != n) {
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
        RFLOW_FAIL("cannot write '" << path << "': " << step << " failed: " << errno_text(err));
    }
    // Make the rename itself durable; failure here does not tear the file, so it is not an error.
    const int dfd = ::open(parent_dir(path).c_str(), O_RDONLY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        const int err = errno;
        RFLOW_FAIL("cannot open '" << path << "' for reading: " << errno_text(err));
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
    RFLOW_CHECK(!failed, "cannot read '" << path << "': " << errno_text(err));
    return out;
}

}  // namespace rflow::io
