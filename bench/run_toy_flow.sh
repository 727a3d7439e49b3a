#!/usr/bin/env bash
# Toy flow-matching benchmark (DESIGN.md section 8): runs the PyTorch peer, the
# OpenBLAS sgemm roofline and, if given, the rflow side at 1 and 2 threads, then
# prints steps/s per impl and the ratios rflow/torch and rflow/roofline, each
# side at its best thread count. Torch also runs once with 2 OpenBLAS threads
# but 1 intra-op thread (often its best on 2 cores); ratios use torch's best row.
# Usage: bench/run_toy_flow.sh [path/to/rflow_toy_flow]   (env: REPEATS=3, STEPS=300)
# The rflow executable is called as `$1 --threads N --steps S --repeats R` and
# must print one JSON line {"impl":"rflow","threads":N,"steps_per_s":...}.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rflow=${1:-}
repeats=${REPEATS:-3}
steps=${STEPS:-300}
build=$(mktemp -d "${TMPDIR:-/tmp}/rflow_bench.XXXXXX")
trap 'rm -rf "$build"' EXIT

# These machines force OpenBLAS onto older, slower kernels; undo that for both sides.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

g++ -O3 -march=native -o "$build/sgemm_roofline" "$here/sgemm_roofline.cpp" -lopenblas

results="$build/results.jsonl"
for n in 1 2; do
    args=(--threads "$n" --steps "$steps" --repeats "$repeats")
    /usr/bin/python3 "$here/toy_flow_torch.py" "${args[@]}" | tee -a "$results"
    "$build/sgemm_roofline" "${args[@]}" | tee -a "$results"
    if [[ -n "$rflow" ]]; then "$rflow" "${args[@]}" | tail -n 1 | tee -a "$results"; fi
done
/usr/bin/python3 "$here/toy_flow_torch.py" --threads 2 --intra-op 1 --steps "$steps" \
    --repeats "$repeats" | tee -a "$results"

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rate = {}  # impl -> {threads: steps/s}
for r in rows:
    rate.setdefault(r["impl"], {})[r["threads"]] = r["steps_per_s"]
threads = sorted({t for v in rate.values() for t in v})
print("\n%-16s" % "steps/s" + "".join("%12s" % f"{t} thr" for t in threads) + "%12s" % "best")
for impl, v in rate.items():
    print("%-16s" % impl + "".join("%12.1f" % v[t] if t in v else "%12s" % "-" for t in threads)
          + "%12.1f" % max(v.values()))
best = {impl: max(v.values()) for impl, v in rate.items()}
if "rflow" in best:
    torch_best = max(b for impl, b in best.items() if impl.startswith("torch"))
    print("\nrflow/torch     %.2f" % (best["rflow"] / torch_best))
    print("rflow/roofline  %.2f" % (best["rflow"] / best["sgemm_roofline"]))
PY
