// Retry loop bookkeeping: attempts, back-off delays, which errors are retried (see rflow/retry.hpp).
#include "rflow/retry.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <thread>

namespace rflow {

bool is_transient_errno(int err) noexcept {
    switch (err) {
        case EINTR:
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
        case EBUSY:
        case ETXTBSY:
            return true;
        default:
            return false;
    }
}

bool is_transient_io_error(const std::exception& e) noexcept {
    return dynamic_cast<const TransientIOError*>(&e) != nullptr;
}

std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int failures) {
    RFLOW_CHECK(failures >= 1, "retry_delay: failures must be >= 1, got " << failures);
    const double cap = static_cast<double>(policy.max_delay.count());
    double d = static_cast<double>(policy.delay.count());
    // Multiply step by step and stop at the cap, so large exponents never overflow.
    for (int i = 1; i < failures && d < cap; ++i) d *= policy.backoff;
    d = std::min(d, cap);
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(std::llround(d)));
}

Retry::Retry(RetryPolicy policy) : policy_(std::move(policy)) {
    RFLOW_CHECK(policy_.max_tries >= 1, "RetryPolicy: max_tries must be >= 1, got " << policy_.max_tries);
    RFLOW_CHECK(policy_.delay.count() >= 0, "RetryPolicy: delay must be >= 0 ms, got " << policy_.delay.count());
    RFLOW_CHECK(policy_.max_delay.count() >= 0,
                "RetryPolicy: max_delay must be >= 0 ms, got " << policy_.max_delay.count());
    RFLOW_CHECK(policy_.backoff >= 1.0 && std::isfinite(policy_.backoff),
                "RetryPolicy: backoff must be a finite factor >= 1 (1 = fixed delay), got " << policy_.backoff);
}

Retry::Retry(int max_tries) : Retry(RetryPolicy{}.tries(max_tries)) {}

void Retry::start_attempt() {
    RFLOW_CHECK(attempts_ < policy_.max_tries,
                "Retry::run: all " << policy_.max_tries << " attempts are used up");
    ++attempts_;
    ++runs_in_iteration_;
    ok_ = false;
}

bool Retry::record_failure(const std::exception& e) {
    const bool retried = policy_.retry_if ? policy_.retry_if(e) : is_transient_io_error(e);
    if (!retried) return false;
    error_ = std::current_exception();
    if (policy_.on_failure) policy_.on_failure(attempts_, e);
    return !(policy_.rethrow_last && attempts_ >= policy_.max_tries);
}

void Retry::record_success() noexcept {
    ok_ = true;
    error_ = nullptr;
}

Retry::iterator Retry::begin() {
    attempts_ = 0;
    runs_in_iteration_ = 0;
    ok_ = false;
    error_ = nullptr;
    return iterator(this);
}

Retry::iterator& Retry::iterator::operator++() {
    Retry& r = *r_;
    // Stop on success, when the attempts are used up (no sleep after the last failure), or when
    // the iteration did not run the body (nothing failed, nothing to retry).
    if (r.ok_ || r.runs_in_iteration_ == 0 || r.attempts_ >= r.policy_.max_tries) {
        r_ = nullptr;
        return *this;
    }
    const std::chrono::milliseconds d = retry_delay(r.policy_, r.attempts_);
    if (r.policy_.sleeper) r.policy_.sleeper(d);
    else if (d.count() > 0) std::this_thread::sleep_for(d);
    r.runs_in_iteration_ = 0;
    return *this;
}

namespace detail {

void throw_io_error(const char* file, int line, const char* func, int err, const std::string& msg) {
    if (!is_transient_errno(err)) throw_error(file, line, func, msg);
    const char* base = std::strrchr(file, '/');
    std::ostringstream os;
    os << (base ? base + 1 : file) << ":" << line << " [" << func << "] " << msg;
    throw TransientIOError(os.str(), err);
}

}  // namespace detail

}  // namespace rflow
