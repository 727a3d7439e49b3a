#!/usr/bin/env bash
# The C API (rflow/rflow_c.h) from a C program: examples/c_sample draws the same samples as
# `rflow sample` for the same seed, sampler and steps, and names the file when loading fails.
# Usage: c_api_test.sh path/to/rflow path/to/c_sample
set -u
rflow=$1 c_sample=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
check() {  # check "what" expected_rc actual_rc
    if [ "$2" != "$3" ]; then echo "FAIL: $1 (exit $3, expected $2)"; fails=$((fails + 1)); else echo "ok: $1"; fi
}
"$rflow" train --steps 30 --hidden 16 --depth 1 --batch-size 64 --num-samples 50 --dataset moons --no-tensorboard \
    -o "$dir/m" >/dev/null 2>&1; check "train a model" 0 $?
"$c_sample" "$dir/m/checkpoint.safetensors" 6 7 rk4 10 > "$dir/c.csv" 2>"$dir/c.err"; check "c_sample" 0 $?
"$rflow" sample --model "$dir/m/checkpoint.safetensors" -n 6 --seed 7 --sampling-method rk4 --steps 10 \
    -o "$dir/cli.csv" >/dev/null 2>&1; check "rflow sample" 0 $?
python3 - "$dir/c.csv" "$dir/cli.csv" <<'PY'
import sys
c = [list(map(float, l.split(","))) for l in open(sys.argv[1]).read().split()]
r = [list(map(float, l.split(","))) for l in open(sys.argv[2]).read().split()[1:]]
assert len(c) == len(r) == 6 and all(len(x) == 2 for x in c), (len(c), len(r))
diff = max(abs(a - b) for x, y in zip(c, r) for a, b in zip(x, y))
assert diff < 1e-5, diff
PY
check "the C API draws what rflow sample draws (same seed, sampler, steps)" 0 $?
grep -q "NFE 40" "$dir/c.err"; check "rk4 with 10 steps reports NFE 40" 0 $?
"$c_sample" "$dir/missing.safetensors" 2>"$dir/err.txt" >/dev/null; check "a missing model exits 2" 2 $?
grep -q "missing.safetensors" "$dir/err.txt"; check "... naming the file" 0 $?
"$c_sample" "$dir/m/checkpoint.safetensors" 2 0 nosuch 2>"$dir/err.txt" >/dev/null; check "an unknown sampler exits 2" 2 $?
grep -q "nosuch" "$dir/err.txt"; check "... naming it" 0 $?
echo "$fails failed"
[ "$fails" -eq 0 ]
