// Crash-safe file writes (temp file in the same directory, fsync, rename) and whole-file reads of
// regular files, both retried from scratch on transient errors (rflow/io/file_retry.hpp), and the
// clean-up of temp files that killed processes left behind.
#include "rflow/io/atomic_file.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rflow/error.hpp"
#include "rflow/io/fault_injection.hpp"
#include "rflow/io/file_retry.hpp"
#include "rflow/retry.hpp"

namespace rflow::io {

namespace {

constexpr uint64_t kMaxReadBytes = uint64_t{8} << 30;

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

// What kind of file a stat mode is, for "is a directory, not a regular file" messages.
const char* file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

// One attempt at reading the whole file. Only regular files are read (a FIFO, a device such as
// /dev/zero or a directory would block or never end), opened without blocking so that a FIFO
// without a writer is refused rather than waited for.
std::vector<uint8_t> read_once(const std::string& path) {
    if (const int fake = testing::take_fault(testing::FaultSite::read))
        RFLOW_IO_FAIL(fake, "cannot open '" << path << "' for reading: " << errno_text(fake));
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        RFLOW_IO_FAIL(err, "cannot open '" << path << "' for reading: " << errno_text(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        RFLOW_IO_FAIL(err, "cannot read '" << path << "': " << errno_text(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        RFLOW_FAIL("cannot read '" << path << "': it is " << file_kind(st.st_mode) << ", not a regular file");
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxReadBytes) {
        ::close(fd);
        RFLOW_FAIL("cannot read '" << path << "': it has " << st.st_size << " bytes, over the limit of "
                                   << kMaxReadBytes << " bytes (8 GiB)");
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    std::FILE* f = ::fdopen(fd, "rb");
    if (!f) {
        const int err = errno;
        ::close(fd);
        RFLOW_IO_FAIL(err, "cannot open '" << path << "' for reading: " << errno_text(err));
    }
    std::vector<uint8_t> out;
    out.reserve(static_cast<size_t>(st.st_size));
    uint8_t buf[1 << 16];
    for (;;) {
        const size_t got = std::fread(buf, 1, sizeof buf, f);
        out.insert(out.end(), buf, buf + got);
        if (got < sizeof buf || out.size() > kMaxReadBytes) break;
    }
    const bool failed = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (failed) RFLOW_IO_FAIL(err, "cannot read '" << path << "': " << errno_text(err));
    RFLOW_CHECK(out.size() <= kMaxReadBytes, "cannot read '" << path << "': it grew past the limit of " << kMaxReadBytes
                                                             << " bytes (8 GiB) while being read");
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

namespace {

// The pid of a write_file_atomic temporary name "<name>.tmp.<pid>.<n>", or 0 if it is not one.
long temp_file_pid(const std::string& name) {
    const size_t last_dot = name.rfind('.');
    if (last_dot == std::string::npos || last_dot == 0) return 0;
    const size_t pid_dot = name.rfind('.', last_dot - 1);
    if (pid_dot == std::string::npos || pid_dot < 5 || name.compare(pid_dot - 4, 4, ".tmp") != 0) return 0;
    const std::string counter = name.substr(last_dot + 1), pid = name.substr(pid_dot + 1, last_dot - pid_dot - 1);
    const auto all_digits = [](const std::string& s) {
        return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
    };
    if (!all_digits(counter) || !all_digits(pid)) return 0;
    return std::stol(pid);
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH; }

}  // namespace

int remove_orphaned_temp_files(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    int removed = 0;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const long pid = temp_file_pid(it->path().filename().string());
        if (pid <= 0 || pid == static_cast<long>(::getpid()) || process_alive(pid)) continue;
        std::error_code kind_ec;
        if (!fs::is_regular_file(fs::symlink_status(it->path(), kind_ec))) continue;
        if (fs::remove(it->path(), kind_ec)) ++removed;
    }
    return removed;
}

}  // namespace rflow::io
