#!/usr/bin/env bash
# Builds the fuzz targets (build.sh) and runs each one from its seed corpus; fails on any finding.
#
#   tests/fuzz/run.sh                    every target, 15 s each
#   tests/fuzz/run.sh -t 600 lora csv    chosen targets, 600 s each
#   tests/fuzz/run.sh -r 10000000 -t 3600 safetensors   up to 10 M executions, capped at an hour
#   tests/fuzz/run.sh --short            the test-suite mode: 8 s each (FUZZ_SECONDS), fixed seed
#                                        (FUZZ_SEED, default 1), and exit 0 with a "skipped" line
#                                        when clang/libFuzzer is not installed
#   tests/fuzz/run.sh --short --strict   the same, but a missing clang/libFuzzer is a failure
#   tests/fuzz/run.sh -k -t 600 lora     keep going after a crash (libFuzzer -fork=1 -ignore_crashes=1):
#                                        collects every distinct crash under build-fuzz/artifacts/
#   tests/fuzz/run.sh --replay           only re-run the saved findings (tests/fuzz/findings/*/)
#
# A finding is any nonzero libFuzzer exit: a crash or sanitizer report (ASan, UBSan, LeakSanitizer),
# an exception other than rflow::Error (uncaught -> abort), a violated round-trip property, a timeout
# (-timeout, 10 s per input) or an allocation over -rss_limit_mb / -malloc_limit_mb (2048 MB).
# The input that caused it is saved under build-fuzz/artifacts/<target>/. New corpus entries go to
# build-fuzz/corpus/<target>/ (the checked-in seeds under tests/fuzz/corpus/ are read only).
# Known findings (tests/fuzz/findings/<target>/*) are replayed first unless FUZZ_SKIP_KNOWN=1:
# they fail until the bug is fixed, then guard against its return.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=15
runs=-1
short=0
strict=0
replay_only=0
seed=()
keep_going=()
targets=()
while (($#)); do
  case "$1" in
    -t) seconds=$2; shift 2 ;;
    -r) runs=$2; shift 2 ;;
    --short) short=1; seconds=${FUZZ_SECONDS:-8}; seed=(-seed="${FUZZ_SEED:-1}"); shift ;;
    --replay) replay_only=1; shift ;;
    --strict) strict=1; shift ;;
    -k) keep_going=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1); shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=(safetensors idx csv tokenizer lora png_text tensorboard)

start=$(date +%s)
mkdir -p "$out"
"$here/build.sh" >"$out/build.log" 2>&1
rc=$?
if [ "$rc" -eq 3 ]; then
  grep '^fuzz:' "$out/build.log" >&2
  if [ "$short" -eq 1 ] && [ "$strict" -eq 0 ]; then echo "fuzz_short: skipped (clang with libFuzzer is not available)"; exit 0; fi
  exit 1
elif [ "$rc" -ne 0 ]; then
  tail -40 "$out/build.log" >&2
  echo "fuzz: build failed (log: $out/build.log)" >&2
  exit 1
fi
echo "fuzz: built in $(($(date +%s) - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()

# known findings first: each must now be handled (return or rflow::Error)
if [ "${FUZZ_SKIP_KNOWN:-0}" != 1 ]; then
  for t in "${targets[@]}"; do
    [ -d "$here/findings/$t" ] || continue
    for f in "$here/findings/$t"/*; do
      case "$f" in *.txt|*.md) continue ;; esac
      [ -f "$f" ] || continue
      if "$out/fuzz_$t" -timeout=10 -rss_limit_mb=2048 "$f" >"$out/replay.log" 2>&1; then
        echo "fuzz: $t: known finding ${f#$root/} is fixed"
      else
        echo "fuzz: $t: FINDING still reproduces: ${f#$root/}"
        grep -m3 -E "ERROR: |runtime error|terminate called|what\(\)|PROPERTY|SUMMARY" "$out/replay.log" | sed 's/^/    /'
        failed+=("$t(known)")
      fi
    done
  done
fi

if [ "$replay_only" -eq 0 ]; then
  for t in "${targets[@]}"; do
    work="$out/corpus/$t"
    art="$out/artifacts/$t/"
    mkdir -p "$work" "$art"
    dict=()
    [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
    log="$out/fuzz_$t.log"
    t0=$(date +%s)
    nice "$out/fuzz_$t" -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$art" "${seed[@]}" "${keep_going[@]}" "${dict[@]}" \
      "$work" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # fork mode prints no final stats: its last "#N:" progress line counts the executions
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+:' "$log" | tail -1 | tr -d '#:')
    crashes=$(grep -oE 'oom/timeout/crash: [0-9]+/[0-9]+/[0-9]+' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
      echo "fuzz: $t: ok, ${execs:-?} execs in $(($(date +%s) - t0)) s ($cov${crashes:+, $crashes})"
      if [[ "${crashes#*: }" =~ [1-9] ]]; then failed+=("$t"); fi
    else
      echo "fuzz: $t: FINDING (exit $rc) after ${execs:-?} execs; log $log"
      grep -m5 -E "ERROR: |runtime error|terminate called|what\(\)|PROPERTY|SUMMARY|Test unit written" "$log" | sed 's/^/    /'
      failed+=("$t")
    fi
  done
fi

echo "fuzz: total $(($(date +%s) - start)) s"
if ((${#failed[@]})); then
  echo "fuzz: findings in: ${failed[*]}"
  exit 1
fi
echo "fuzz: no findings"
