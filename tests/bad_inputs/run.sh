#!/usr/bin/env bash
# Hostile-input table: every *.cases file beside this script lists inputs a user could give the
# rflow CLI and what must happen: the exit code, and a fragment of stderr that names the flag,
# file or key. A case also fails when it crashes (signal), hangs (over its time limit) or leaves
# a core behind. Prints a doctest-style summary so CI counts every case.
#
# Case line:  EXIT | FRAGMENT | COMMAND
#   EXIT      expected exit status (0, 1 or 2)
#   FRAGMENT  text stderr must contain (case-insensitive; empty = anything)
#   COMMAND   bash, run in a fresh empty folder, with $rflow (the binary) and $fix (fixtures
#             built once below: a tiny point model, a tiny image folder, ...)
# Lines starting with # and blank lines are skipped. A line ending in \ continues on the next.
# Usage: run.sh path/to/rflow [filter]   (filter: run only cases whose command or fragment matches)
set -u
rflow=$(realpath "$1")
filter=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export rflow fix="$dir/fix"
mkdir -p "$fix"
limit=${RFLOW_CASE_TIMEOUT:-60}
# Address-space cap per case, in KiB (unbounded allocations fail instead of swapping); 0 = none,
# for sanitizer builds, whose shadow memory cannot be reserved under a cap.
vmem=${RFLOW_CASE_VMEM_KB:-8000000}

# Fixtures shared by the cases (kept tiny: the table must stay fast).
"$rflow" train --steps 4 --hidden 8 --depth 1 --batch-size 16 --num-samples 20 --log-every 2 \
    --dataset moons -o "$fix/1rf" >/dev/null 2>&1 || { echo "FAIL: fixture: tiny point model"; exit 1; }
printf 'x,y\n0.1,0.2\n0.3,-0.4\n1.5,0.25\n-0.7,0.9\n' > "$fix/points.csv"
head -c 4096 /dev/urandom > "$fix/garbage.bin"
: > "$fix/empty"

passed=0; failed=0
run_case() {  # run_case file:line expected fragment command
    local where=$1 want=$2 frag=$3 cmd=$4 case_dir out rc
    case_dir=$(mktemp -d "$dir/case.XXXXXX")
    out="$case_dir/.stderr"
    (cd "$case_dir" && ulimit -c 0 && { [ "$vmem" = 0 ] || ulimit -v "$vmem"; } && timeout -k 5 "$limit" bash -c "$cmd" >/dev/null 2>"$out")
    rc=$?
    local why=""
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="hung (over ${limit} s)"
    elif [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128))"
    elif [ "$rc" -ne "$want" ]; then why="exit $rc, expected $want"
    elif [ -n "$frag" ] && ! grep -qiF -- "$frag" "$out"; then why="stderr lacks \"$frag\""
    fi
    if [ -z "$why" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $where: $why"
        echo "      command: $cmd"
        sed 's/^/      stderr: /' "$out" | head -5
    fi
    rm -rf "$case_dir"
}

for table in "$here"/*.cases; do
    n=0; buf=""; start=0
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        if [ -z "$buf" ]; then start=$n; fi
        if [[ "$line" == *\\ ]]; then buf+="${line%\\} "; continue; fi
        buf+="$line"
        line=$buf; buf=""
        [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
        IFS='|' read -r want frag cmd <<<"$line"
        want=$(echo "$want" | xargs); frag=$(echo "$frag" | sed 's/^ *//; s/ *$//')
        if [ -n "$filter" ] && [[ "$cmd$frag" != *"$filter"* ]]; then continue; fi
        run_case "$(basename "$table"):$start" "$want" "$frag" "$cmd"
    done < "$table"
done
total=$((passed + failed))
echo "[doctest] test cases: $total | $passed passed | $failed failed"
[ "$failed" -eq 0 ]
