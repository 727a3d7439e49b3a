// Tests for rflow::Retry / rflow::retry (SPEC 8.e 1-5, back-off, error filtering, rethrow) and the
// retries of rflow's own file I/O, with an injected sleeper and injected EAGAIN faults.
#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "rflow/data/idx.hpp"
#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/io/checkpoint.hpp"
#include "rflow/io/fault_injection.hpp"
#include "rflow/io/file_retry.hpp"
#include "rflow/retry.hpp"
#include "rflow/tensor.hpp"

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using rflow::Retry;
using rflow::RetryPolicy;
using rflow::TransientIOError;
using rflow::io::testing::FaultSite;
using rflow::io::testing::ScopedFaults;

namespace {

using ms = std::chrono::milliseconds;

/// A policy whose sleeps are recorded instead of slept, retrying every std::exception.
RetryPolicy recording(std::vector<ms>& sleeps, int tries = 5) {
    RetryPolicy p;
    p.max_tries = tries;
    p.sleeper = [&sleeps](ms d) { sleeps.push_back(d); };
    p.retry_if = [](const std::exception&) { return true; };
    return p;
}

TransientIOError eagain() { return TransientIOError("resource temporarily unavailable", EAGAIN); }

/// Installs a file retry policy that records sleeps; restores the default at scope exit.
struct RecordedFilePolicy {
    std::vector<ms> sleeps;
    RecordedFilePolicy() {
        RetryPolicy p = rflow::io::default_file_retry_policy();
        p.sleeper = [this](ms d) { sleeps.push_back(d); };
        rflow::io::set_file_retry_policy(p);
    }
    ~RecordedFilePolicy() { rflow::io::set_file_retry_policy(rflow::io::default_file_retry_policy()); }
};

using rflow::testing::TempDir;

rflow::io::Checkpoint make_checkpoint(int64_t step, float value) {
    rflow::io::Checkpoint c;
    c.step = step;
    c.rng = {1, 2, 3};
    c.config = "{\"model\":\"test\"}";
    c.model.emplace_back("w", rflow::Tensor::from_vector({value, value + 1, value + 2, value + 3}, {2, 2}));
    c.optimizer.emplace_back("m", rflow::Tensor::from_vector({value * 2}, {1}));
    return c;
}

}  // namespace

TEST_CASE("SPEC 8.e 1: a body failing always runs max_tries times, sleeps in between only, no throw") {
    std::vector<ms> sleeps;
    int runs = 0;
    Retry r(recording(sleeps));
    for (auto& attempt : r) attempt.run([&] { ++runs; throw std::runtime_error("boom"); });
    CHECK(runs == 5);
    CHECK(sleeps.size() == 4);  // no sleep after the last failure
    CHECK_FALSE(r.ok());
    CHECK(r.attempts() == 5);
    REQUIRE(r.error());
    CHECK_THROWS_WITH_AS(std::rethrow_exception(r.error()), "boom", std::runtime_error);
    for (ms d : sleeps) CHECK(d == 2000ms);  // SPEC 8.d: fixed 2 s

    // The lambda form agrees.
    sleeps.clear();
    runs = 0;
    const rflow::RetryResult res = rflow::retry(recording(sleeps), [&] { ++runs; throw std::runtime_error("x"); });
    CHECK_FALSE(res.ok);
    CHECK_FALSE(static_cast<bool>(res));
    CHECK(res.attempts == 5);
    CHECK(runs == 5);
    CHECK(sleeps.size() == 4);
    CHECK_THROWS_AS(res.rethrow_if_failed(), std::runtime_error);
}

TEST_CASE("SPEC 8.e 2: failing twice then succeeding runs 3 times with 2 sleeps") {
    std::vector<ms> sleeps;
    int runs = 0;
    Retry r(recording(sleeps));
    for (auto& attempt : r)
        attempt.run([&] {
            if (++runs <= 2) throw eagain();
        });
    CHECK(runs == 3);
    CHECK(sleeps.size() == 2);
    CHECK(r.ok());
    CHECK(r.attempts() == 3);
    CHECK_FALSE(r.error());

    sleeps.clear();
    runs = 0;
    const rflow::RetryResult res = rflow::retry(recording(sleeps), [&] {
        if (++runs <= 2) throw eagain();
    });
    CHECK(res.ok);
    CHECK(res.attempts == 3);
    CHECK(sleeps.size() == 2);
    CHECK_NOTHROW(res.rethrow_if_failed());
}

TEST_CASE("SPEC 8.e 3: immediate success runs once and never sleeps") {
    std::vector<ms> sleeps;
    int runs = 0;
    Retry r(recording(sleeps));
    for (auto& attempt : r) CHECK(attempt.run([&] { ++runs; }));
    CHECK(runs == 1);
    CHECK(sleeps.empty());
    CHECK(r.ok());
    CHECK(r.attempts() == 1);
}

TEST_CASE("SPEC 8.e 4: variables assigned in the body are visible after the loop") {
    std::vector<ms> sleeps;
    int runs = 0;
    std::string value;
    std::vector<int> seen;
    Retry r(recording(sleeps));
    for (auto& attempt : r)
        attempt.run([&] {
            seen.push_back(++runs);
            if (runs < 3) throw eagain();
            value = "done after " + std::to_string(runs);
        });
    CHECK(r.ok());
    CHECK(value == "done after 3");
    CHECK(seen == std::vector<int>{1, 2, 3});

    int result = 0;
    CHECK(rflow::retry(recording(sleeps), [&] { result = 42; }).ok);
    CHECK(result == 42);
}

TEST_CASE("SPEC 8.e 5: sequential and nested loops do not share state") {
    std::vector<ms> outer_sleeps, inner_sleeps;
    int outer_runs = 0, inner_runs = 0, inner_loops = 0;
    Retry outer(recording(outer_sleeps, 3));
    for (auto& a : outer)
        a.run([&] {
            ++outer_runs;
            // A nested loop that always fails and one that always succeeds.
            Retry failing(recording(inner_sleeps, 4));
            for (auto& b : failing) b.run([&] { ++inner_runs; throw std::runtime_error("inner"); });
            CHECK_FALSE(failing.ok());
            CHECK(failing.attempts() == 4);
            Retry fine(recording(inner_sleeps, 4));
            for (auto& b : fine) b.run([] {});
            CHECK(fine.ok());
            CHECK(fine.attempts() == 1);
            ++inner_loops;
            if (outer_runs < 2) throw std::runtime_error("outer");
        });
    CHECK(outer.ok());
    CHECK(outer.attempts() == 2);
    CHECK(outer_runs == 2);
    CHECK(outer_sleeps.size() == 1);
    CHECK(inner_loops == 2);
    CHECK(inner_runs == 8);
    CHECK(inner_sleeps.size() == 6);  // 3 per failing inner loop, none for the succeeding ones

    // Sequential loops: a failed loop leaves nothing behind for the next one.
    std::vector<ms> s1, s2;
    Retry first(recording(s1, 2));
    for (auto& a : first) a.run([] { throw std::runtime_error("first"); });
    Retry second(recording(s2, 2));
    for (auto& a : second) a.run([] {});
    CHECK_FALSE(first.ok());
    CHECK(second.ok());
    CHECK(second.attempts() == 1);
    CHECK_FALSE(second.error());
    CHECK(s1.size() == 1);
    CHECK(s2.empty());

    // Iterating the same Retry again starts afresh.
    for (auto& a : first) a.run([] {});
    CHECK(first.ok());
    CHECK(first.attempts() == 1);
}

TEST_CASE("exponential back-off with a cap") {
    std::vector<ms> sleeps;
    RetryPolicy p = recording(sleeps, 6);
    p.delay = 100ms;
    p.backoff = 2.0;
    p.max_delay = 500ms;
    Retry r(p);
    for (auto& a : r) a.run([] { throw eagain(); });
    CHECK(sleeps == std::vector<ms>{100ms, 200ms, 400ms, 500ms, 500ms});
    CHECK(rflow::retry_delay(p, 1) == 100ms);
    CHECK(rflow::retry_delay(p, 1000) == 500ms);  // no overflow for huge exponents
    CHECK_THROWS_AS(rflow::retry_delay(p, 0), rflow::Error);
}

TEST_CASE("errors not accepted by retry_if propagate immediately") {
    std::vector<ms> sleeps;
    int runs = 0;
    RetryPolicy p = recording(sleeps);
    p.retry_if = nullptr;  // default: transient I/O errors only
    Retry r(p);
    auto loop = [&] {
        for (auto& a : r) a.run([&] { ++runs; throw std::invalid_argument("bad input"); });
    };
    CHECK_THROWS_WITH_AS(loop(), "bad input", std::invalid_argument);
    CHECK(runs == 1);
    CHECK(sleeps.empty());
    CHECK(r.attempts() == 1);
    CHECK_FALSE(r.ok());

    // A plain rflow::Error (not transient) is not retried either, nor is a non-std exception.
    runs = 0;
    CHECK_THROWS_AS(rflow::retry(p, [&] { ++runs; RFLOW_FAIL("permanent"); }), rflow::Error);
    CHECK(runs == 1);
    runs = 0;
    CHECK_THROWS_AS(rflow::retry(recording(sleeps), [&] { ++runs; throw 7; }), int);
    CHECK(runs == 1);
    CHECK(sleeps.empty());

    // A custom filter: retry only std::runtime_error.
    runs = 0;
    p.retry_if = [](const std::exception& e) { return dynamic_cast<const std::runtime_error*>(&e) != nullptr; };
    CHECK_THROWS_AS(rflow::retry(p, [&] {
                        if (++runs < 3) throw std::runtime_error("retry me");
                        throw std::logic_error("stop");
                    }),
                    std::logic_error);
    CHECK(runs == 3);
    CHECK(sleeps.size() == 2);
}

TEST_CASE("rethrow_last rethrows the last error after max_tries") {
    std::vector<ms> sleeps;
    std::vector<int> failures;
    int runs = 0;
    RetryPolicy p = recording(sleeps, 3);
    p.rethrow_last = true;
    p.on_failure = [&](int attempt, const std::exception&) { failures.push_back(attempt); };
    CHECK_THROWS_WITH_AS(rflow::retry(p, [&] { throw std::runtime_error("failure " + std::to_string(++runs)); }),
                         "failure 3", std::runtime_error);
    CHECK(runs == 3);
    CHECK(sleeps.size() == 2);
    CHECK(failures == std::vector<int>{1, 2, 3});

    // A success before the last attempt is a success.
    runs = 0;
    CHECK(rflow::retry(p, [&] {
              if (++runs < 3) throw eagain();
          }).ok);
}

TEST_CASE("loop form edge cases: Retry(n), break, an iteration without run(), invalid policies") {
    Retry r(2);  // SPEC 8.b's Retry(5) spelling; default policy retries transient I/O errors
    CHECK(r.policy().max_tries == 2);
    int iterations = 0;
    for (auto& a : r) {
        (void)a;
        ++iterations;  // run() not called: nothing failed, the loop ends
    }
    CHECK(iterations == 1);
    CHECK_FALSE(r.ok());
    CHECK(r.attempts() == 0);

    std::vector<ms> sleeps;
    Retry b(recording(sleeps));
    int runs = 0;
    for (auto& a : b) {
        a.run([&] { ++runs; throw eagain(); });
        break;
    }
    CHECK(runs == 1);
    CHECK(sleeps.empty());

    CHECK_THROWS_AS(Retry(0), rflow::Error);
    CHECK_THROWS_AS(Retry(RetryPolicy{}.wait(ms(-1))), rflow::Error);
    CHECK_THROWS_AS(Retry(RetryPolicy{}.exponential(0.5, 1000ms)), rflow::Error);
    CHECK_THROWS_AS(rflow::io::set_file_retry_policy(RetryPolicy{}.tries(0)), rflow::Error);
}

TEST_CASE("transient errno classification") {
    CHECK(rflow::is_transient_errno(EINTR));
    CHECK(rflow::is_transient_errno(EAGAIN));
    CHECK(rflow::is_transient_errno(EWOULDBLOCK));
    CHECK(rflow::is_transient_errno(EBUSY));
    CHECK(rflow::is_transient_errno(ETXTBSY));
    CHECK_FALSE(rflow::is_transient_errno(ENOSPC));
    CHECK_FALSE(rflow::is_transient_errno(ENOENT));
    CHECK_FALSE(rflow::is_transient_errno(EACCES));
    CHECK_FALSE(rflow::is_transient_errno(EIO));
    CHECK_FALSE(rflow::is_transient_errno(0));
    const TransientIOError e = eagain();
    CHECK(rflow::is_transient_io_error(e));
    CHECK(e.errno_value() == EAGAIN);
    CHECK_FALSE(rflow::is_transient_io_error(rflow::Error("x")));
    CHECK_FALSE(rflow::is_transient_io_error(std::runtime_error("x")));
}

TEST_CASE("a checkpoint write failing twice then succeeding leaves exactly one complete file") {
    RecordedFilePolicy policy;
    TempDir dir;
    const std::string path = dir.file("ckpt.safetensors");
    {
        ScopedFaults faults(FaultSite::write, 2, EAGAIN);
        rflow::io::save_checkpoint(path, make_checkpoint(7, 1.5f));
        CHECK(rflow::io::testing::pending_faults(FaultSite::write) == 0);
    }
    CHECK(policy.sleeps == std::vector<ms>{50ms, 100ms});  // default file policy: 50 ms doubling
    CHECK(dir.names() == std::vector<std::string>{"ckpt.safetensors"});  // no temp files
    const rflow::io::Checkpoint back = rflow::io::load_checkpoint(path);
    CHECK(back.step == 7);
    REQUIRE(back.model.size() == 1);
    CHECK(back.model[0].second.to_vector() == std::vector<float>{1.5f, 2.5f, 3.5f, 4.5f});
    REQUIRE(back.optimizer.size() == 1);
    CHECK(back.optimizer[0].second.to_vector() == std::vector<float>{3.f});
}

TEST_CASE("a write failing every time keeps the previous file, leaves no temp file, names the file") {
    RecordedFilePolicy policy;
    TempDir dir;
    const std::string path = dir.file("ckpt.safetensors");
    rflow::io::save_checkpoint(path, make_checkpoint(1, 1.f));
    {
        ScopedFaults faults(FaultSite::write, 1000, EAGAIN);
        try {
            rflow::io::save_checkpoint(path, make_checkpoint(2, 9.f));
            FAIL("expected the write to fail");
        } catch (const TransientIOError& e) {
            const std::string what = e.what();
            CHECK(what.find(path) != std::string::npos);
            CHECK(what.find("gave up after 5 attempts") != std::string::npos);
            CHECK(e.errno_value() == EAGAIN);
        }
        CHECK(rflow::io::testing::pending_faults(FaultSite::write) == 1000 - 5);
    }
    CHECK(policy.sleeps.size() == 4);
    CHECK(dir.names() == std::vector<std::string>{"ckpt.safetensors"});
    CHECK(rflow::io::load_checkpoint(path).step == 1);  // earlier file untouched

    // A non-transient error (ENOSPC) is not retried: one attempt, no sleep, same guarantees.
    policy.sleeps.clear();
    {
        ScopedFaults faults(FaultSite::write, 1000, ENOSPC);
        CHECK_THROWS_AS(rflow::io::save_checkpoint(path, make_checkpoint(3, 0.f)), rflow::Error);
        CHECK(rflow::io::testing::pending_faults(FaultSite::write) == 999);
    }
    CHECK(policy.sleeps.empty());
    CHECK(dir.names() == std::vector<std::string>{"ckpt.safetensors"});
    CHECK(rflow::io::load_checkpoint(path).step == 1);

    // Retries switched off through the policy: one attempt.
    RetryPolicy once = rflow::io::default_file_retry_policy();
    once.max_tries = 1;
    rflow::io::set_file_retry_policy(once);
    {
        ScopedFaults faults(FaultSite::write, 1000, EAGAIN);
        CHECK_THROWS_AS(rflow::io::save_checkpoint(path, make_checkpoint(4, 0.f)), TransientIOError);
        CHECK(rflow::io::testing::pending_faults(FaultSite::write) == 999);
    }
}

TEST_CASE("file and dataset reads are retried on transient errors only") {
    RecordedFilePolicy policy;
    TempDir dir;
    const std::string path = dir.file("ckpt.safetensors");
    rflow::io::save_checkpoint(path, make_checkpoint(5, 2.f));
    {
        ScopedFaults faults(FaultSite::read, 3, EINTR);
        CHECK(rflow::io::load_checkpoint(path).step == 5);
        CHECK(rflow::io::testing::pending_faults(FaultSite::read) == 0);
    }
    CHECK(policy.sleeps.size() == 3);

    // A missing file (ENOENT) fails at once, naming the file.
    policy.sleeps.clear();
    CHECK_THROWS_WITH_AS(rflow::io::read_file(dir.file("missing.bin")),
                         doctest::Contains("missing.bin"), rflow::Error);
    CHECK(policy.sleeps.empty());

    // IDX dataset file (plain, 2 images of 2 x 3), opened through zlib: EBUSY twice, then fine.
    const std::string idx = dir.file("images-idx3-ubyte");
    const std::vector<uint8_t> bytes = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                                        0, 255, 0, 255, 0, 255, 1, 2, 3, 4, 5, 6};
    rflow::io::write_file_atomic(idx, bytes.data(), bytes.size());
    policy.sleeps.clear();
    {
        ScopedFaults faults(FaultSite::read, 2, EBUSY);
        const rflow::data::IdxImages im = rflow::data::read_idx_images(idx);
        CHECK(im.count == 2);
        CHECK(im.height == 2);
        CHECK(im.width == 3);
    }
    CHECK(policy.sleeps.size() == 2);
    {
        ScopedFaults faults(FaultSite::read, 1000, EAGAIN);
        CHECK_THROWS_WITH_AS(rflow::data::read_idx_images(idx), doctest::Contains("gave up after 5 attempts"),
                             TransientIOError);
    }
}
