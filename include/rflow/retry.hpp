// Retrying operations that can fail transiently (SPEC 8): a policy, a loop form and a lambda form.
//
//   rflow::RetryPolicy p;                        // 5 tries, 2 s apart, transient I/O errors only
//   rflow::Retry r(p);
//   for (auto& attempt : r) attempt.run([&] { x = risky(); });   // x stays visible afterwards
//   if (r.ok()) use(x);
//
//   rflow::RetryResult res = rflow::retry(p, [&] { x = risky(); });
//
// Semantics: at most max_tries executions of the body; the first success ends the loop at once;
// the delay is slept only *between* attempts (never after the last one); only exceptions accepted
// by retry_if are retried, anything else propagates immediately; after the last failure the loop
// either reports failure (ok() == false, last error kept) or rethrows the last error
// (rethrow_last). Each Retry object is its own loop: separate loops share no state.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <utility>

#include "rflow/error.hpp"
#include "rflow/export.hpp"

namespace rflow {

/// An I/O failure that may go away if the operation is simply tried again (EINTR, EAGAIN,
/// EBUSY, ETXTBSY). Still an rflow::Error, so code that does not care sees the one error type.
class RFLOW_API TransientIOError : public Error {
public:
    TransientIOError(const std::string& what, int errno_value) : Error(what), errno_(errno_value) {}
    /// The errno of the failed system call.
    int errno_value() const noexcept { return errno_; }

private:
    int errno_;
};

/// True for errno values worth retrying: EINTR, EAGAIN/EWOULDBLOCK, EBUSY, ETXTBSY. Not ENOSPC,
/// EDQUOT, EIO, EACCES, ENOENT, EROFS: those do not clear up by waiting a moment.
RFLOW_API bool is_transient_errno(int err) noexcept;

/// The default RetryPolicy::retry_if: true iff `e` is a TransientIOError.
RFLOW_API bool is_transient_io_error(const std::exception& e) noexcept;

/// How often, how far apart and on which errors to retry. Plain struct with defaults (SPEC 8.d:
/// 5 tries, fixed 2 s delay).
struct RetryPolicy {
    /// Executions of the body at most (>= 1).
    int max_tries = 5;
    /// Sleep after the first failure (>= 0).
    std::chrono::milliseconds delay{2000};
    /// Multiplier applied to the delay after each further failure; 1 = fixed delay (>= 1).
    double backoff = 1.0;
    /// Cap on any single delay.
    std::chrono::milliseconds max_delay{60000};
    /// Which errors are retried; empty = is_transient_io_error. Errors it rejects, and exceptions
    /// not derived from std::exception, propagate at once.
    std::function<bool(const std::exception&)> retry_if;
    /// After the last failure: false = report it (ok() == false, error() holds it), true = rethrow it.
    bool rethrow_last = false;
    /// Sleeps between attempts; empty = std::this_thread::sleep_for. Tests inject a recorder.
    std::function<void(std::chrono::milliseconds)> sleeper;
    /// Called for every retried failure (1-based attempt number, the error), before any sleep;
    /// empty = nothing. The library itself never prints: logging is the caller's choice.
    std::function<void(int attempt, const std::exception&)> on_failure;

    RetryPolicy& tries(int n) { max_tries = n; return *this; }
    RetryPolicy& wait(std::chrono::milliseconds d) { delay = d; return *this; }
    RetryPolicy& exponential(double factor, std::chrono::milliseconds cap) { backoff = factor; max_delay = cap; return *this; }
    RetryPolicy& rethrow(bool on = true) { rethrow_last = on; return *this; }
};

/// The delay slept after the `failures`-th failure (1-based): min(max_delay, delay * backoff^(failures-1)).
RFLOW_API std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int failures);

/// Outcome of a retry loop.
struct RetryResult {
    bool ok = false;           ///< the body succeeded on some attempt
    int attempts = 0;          ///< executions of the body
    std::exception_ptr error;  ///< the last retried error when !ok (null on success)
    explicit operator bool() const noexcept { return ok; }
    /// Rethrows `error` when the loop failed; does nothing on success.
    void rethrow_if_failed() const {
        if (!ok && error) std::rethrow_exception(error);
    }
};

/// The loop form (SPEC 8.c (2)): iterating yields the Retry object itself, once per attempt;
/// call run(body) in each iteration. The loop stops after a success, after max_tries attempts, or
/// after an iteration that did not call run(); `break` is allowed. Iterating again starts afresh.
class RFLOW_API Retry {
public:
    /// Throws rflow::Error for max_tries < 1, a negative delay or max_delay, or backoff < 1.
    explicit Retry(RetryPolicy policy = {});
    /// Shorthand for Retry(RetryPolicy with max_tries = n) (SPEC 8.b's Retry(5)).
    explicit Retry(int max_tries);
    Retry(const Retry&) = delete;
    Retry& operator=(const Retry&) = delete;

    /// Runs the body once as the next attempt. Returns true on success. A retried error is
    /// recorded and swallowed (false), except after the last attempt with rethrow_last; any
    /// other exception propagates unchanged.
    template <class F>
    bool run(F&& body) {
        start_attempt();
        try {
            std::forward<F>(body)();
        } catch (const std::exception& e) {
            if (!record_failure(e)) throw;  // not ours to retry, or the last try with rethrow_last
            return false;
        }
        record_success();
        return true;
    }

    bool ok() const noexcept { return ok_; }                          ///< some attempt succeeded
    int attempts() const noexcept { return attempts_; }               ///< executions so far
    std::exception_ptr error() const noexcept { return error_; }      ///< last retried error
    RetryResult result() const { return RetryResult{ok_, attempts_, error_}; }
    const RetryPolicy& policy() const noexcept { return policy_; }

    /// Input iterator over attempts; advancing sleeps between a failure and the next attempt.
    class RFLOW_API iterator {
    public:
        Retry& operator*() const noexcept { return *r_; }
        iterator& operator++();
        bool operator!=(const iterator& o) const noexcept { return r_ != o.r_; }
        bool operator==(const iterator& o) const noexcept { return r_ == o.r_; }

    private:
        friend class Retry;
        explicit iterator(Retry* r) : r_(r) {}
        Retry* r_;  // null = end
    };
    /// Resets the state (no attempts, not ok) and yields the first attempt.
    iterator begin();
    iterator end() noexcept { return iterator(nullptr); }

private:
    void start_attempt();
    bool record_failure(const std::exception& e);  // false: the caller must rethrow
    void record_success() noexcept;

    RetryPolicy policy_;
    int attempts_ = 0;
    int runs_in_iteration_ = 0;
    bool ok_ = false;
    std::exception_ptr error_;
};

/// The lambda form (SPEC 8.c (1)): runs `body` (a callable taking no arguments; capture locals
/// by reference) under `policy` and returns the outcome. Non-retried errors propagate; with
/// rethrow_last the last error is rethrown instead of being returned.
template <class F>
RetryResult retry(const RetryPolicy& policy, F&& body) {
    Retry r(policy);
    for (Retry& attempt : r) attempt.run(body);
    return r.result();
}

namespace detail {
/// Throws TransientIOError when is_transient_errno(err), rflow::Error otherwise; the message gets
/// the same "file:line [function]" prefix as RFLOW_CHECK's.
[[noreturn]] RFLOW_API void throw_io_error(const char* file, int line, const char* func, int err,
                                           const std::string& msg);
}  // namespace detail

}  // namespace rflow

/// RFLOW_IO_FAIL(errno_value, "message " << value): throws TransientIOError for a transient errno,
/// rflow::Error otherwise. For library code wrapping system calls.
#define RFLOW_IO_FAIL(err, msg)                                                           \
    do {                                                                                  \
        std::ostringstream rflow_io_os_;                                                  \
        rflow_io_os_ << msg;                                                              \
        ::rflow::detail::throw_io_error(__FILE__, __LINE__, __func__, (err), rflow_io_os_.str()); \
    } while (0)
