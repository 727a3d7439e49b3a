// The process-wide file retry policy, the retry wrapper for file operations, and the test-only
// fault counters (rflow/io/file_retry.hpp, rflow/io/fault_injection.hpp).
#include "rflow/io/file_retry.hpp"

#include <atomic>
#include <mutex>
#include <string>

#include "rflow/io/fault_injection.hpp"

namespace rflow::io {

namespace {

std::mutex g_policy_mutex;

RetryPolicy& policy_storage() {
    static RetryPolicy policy = default_file_retry_policy();
    return policy;
}

}  // namespace

RetryPolicy default_file_retry_policy() {
    return RetryPolicy{}.tries(5).wait(std::chrono::milliseconds(50)).exponential(2.0, std::chrono::milliseconds(1000));
}

RetryPolicy file_retry_policy() {
    std::lock_guard<std::mutex> lock(g_policy_mutex);
    return policy_storage();
}

void set_file_retry_policy(RetryPolicy policy) {
    { Retry check(policy); }  // validates, throws rflow::Error if invalid
    std::lock_guard<std::mutex> lock(g_policy_mutex);
    policy_storage() = std::move(policy);
}

void with_file_retries(const std::function<void()>& op) {
    RetryPolicy policy = file_retry_policy();
    policy.rethrow_last = false;  // rethrown below, with the attempt count
    const RetryResult r = retry(policy, op);
    if (r.ok || !r.error) return;
    if (r.attempts <= 1) std::rethrow_exception(r.error);
    const std::string suffix = " (gave up after " + std::to_string(r.attempts) + " attempts)";
    try {
        std::rethrow_exception(r.error);
    } catch (const TransientIOError& e) {
        throw TransientIOError(e.what() + suffix, e.errno_value());
    } catch (const Error& e) {
        throw Error(e.what() + suffix);
    }
    // Anything else (a caller's retry_if accepting foreign exceptions) propagated unchanged above.
}

namespace testing {

namespace {
std::atomic<int> g_count[2];
std::atomic<int> g_errno[2];
int index(FaultSite site) { return site == FaultSite::write ? 0 : 1; }
}  // namespace

void inject_faults(FaultSite site, int count, int err) {
    g_errno[index(site)].store(err);
    g_count[index(site)].store(count > 0 ? count : 0);
}

int pending_faults(FaultSite site) { return g_count[index(site)].load(); }

void clear_faults() {
    for (auto& c : g_count) c.store(0);
}

int take_fault(FaultSite site) noexcept {
    std::atomic<int>& c = g_count[index(site)];
    int n = c.load();
    while (n > 0)
        if (c.compare_exchange_weak(n, n - 1)) return g_errno[index(site)].load();
    return 0;
}

}  // namespace testing

}  // namespace rflow::io
