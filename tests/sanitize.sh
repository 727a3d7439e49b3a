#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (g++, meson's
# b_sanitize), in its own build directory. Every sanitizer report goes to a log file
# (ASAN_OPTIONS/UBSAN_OPTIONS log_path) as well as failing its test, so reports swallowed by a
# test script (the CLI tests capture stderr) are still counted.
#
#   tests/sanitize.sh                       configure build-asan if needed, build, run every test
#   tests/sanitize.sh safetensors data png  only these meson tests, building only their programs
#                                           and the CLI (a quicker check; also cli, bad_inputs)
#   SANITIZE_BUILD_DIR=... SANITIZE_JOBS=2 tests/sanitize.sh
#   SANITIZE_HALT=0 tests/sanitize.sh data   UBSan goes on after a report (every report, one run)
#
# Exit status 0 only when every test passes and no sanitizer report was written.
# Options: -O1 -g (fast enough to run the suite, still good stack traces); CUDA off (the sanitizers
# do not see device code, and cuda=auto would otherwise pick nvcc up); -march=native off.
# LeakSanitizer is on; tests/sanitize.supp lists the third-party leaks it suppresses (none
# belong to rflow).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bd=${SANITIZE_BUILD_DIR:-$root/build-asan}
jobs=${SANITIZE_JOBS:-2}
cd "$root"
if [ ! -f "$bd/build.ninja" ]; then
  meson setup "$bd" -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled -Dnative=false \
    -Dbuildtype=custom -Doptimization=1 -Ddebug=true -Dfuzz=disabled || exit 1
fi
# the fuzzers carry their own sanitizers (tests/fuzz); a directory set up before the option existed
# gets it here
meson configure "$bd" -Dfuzz=disabled >/dev/null || exit 1
# build what the tests run (the library, the CLI, the test programs), not examples/ and bench/
# (only the named tests' programs when tests are named)
tests=$(ninja -C "$bd" -t targets all | grep -oE '^tests/test_[a-z0-9_]+:' | tr -d ':' | sort -u)
if (($#)); then
  named=""
  for t in "$@"; do
    case "$t" in -*) continue ;; esac
    echo "$tests" | grep -qx "tests/test_$t" && named+=" tests/test_$t"
  done
  tests=$named
fi
nice ninja -C "$bd" -j"$jobs" src/cli/rflow $tests || { echo "sanitize: build failed"; exit 1; }

logs="$bd/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
supp="$root/tests/sanitize.supp"
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:log_path=$logs/asan:${ASAN_OPTIONS:-}"
[ -f "$supp" ] && export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0:${LSAN_OPTIONS:-}"
# SANITIZE_HALT=0: UBSan reports and goes on (g++'s checks recover), so one run lists every report
# of a test instead of stopping at its first
halt=${SANITIZE_HALT:-1}
export UBSAN_OPTIONS="halt_on_error=$halt:abort_on_error=$halt:print_stacktrace=1:log_path=$logs/ubsan:${UBSAN_OPTIONS:-}"

# bad_inputs caps each case's address space, under which ASan cannot reserve its shadow memory
export RFLOW_CASE_VMEM_KB=0
meson test -C "$bd" --no-rebuild --print-errorlogs --timeout-multiplier 4 "$@"
status=$?

# reports that reached a test's output instead of a log file (UBSan inside an ASan build writes to
# stderr whatever log_path says)
python3 - "$bd/meson-logs/testlog.json" "$logs" <<'PY'
import json, re, sys
pat = re.compile(r"runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer")
n = 0
for line in open(sys.argv[1]):
    rec = json.loads(line)
    text = rec.get("stdout", "") + "\n" + (rec.get("stderr") or "")
    hits = [l for l in text.splitlines() if pat.search(l)]
    if hits:
        n += 1
        with open("%s/from-test-%s.txt" % (sys.argv[2], rec["name"]), "w") as f:
            f.write(text)
PY
reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  echo "sanitize: $(echo "$reports" | wc -l) sanitizer report file(s) under $logs:"
  for f in $reports; do
    echo "== $f"
    grep -m4 -E "ERROR: |runtime error|SUMMARY" "$f" | sed 's/^/   /'
  done
  status=1
else
  echo "sanitize: no sanitizer reports"
fi
exit $status
