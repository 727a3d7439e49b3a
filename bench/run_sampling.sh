#!/usr/bin/env bash
# Sampling benchmark (DESIGN.md section 8): Euler sampling of SAMPLES points over STEPS steps
# through the toy velocity MLP 3->256->256->256->2 (SiLU, random weights, no autograd).
# Runs the PyTorch peer, the OpenBLAS sgemm roofline of the forward GEMMs (4 per step) and, if
# given, the rflow side at 1 and 2 threads, then prints Euler steps/s per impl and the ratios
# rflow/torch and rflow/roofline, each side at its best thread count. Torch also runs once with
# 2 OpenBLAS threads but 1 intra-op thread; ratios use torch's best row.
# Usage: bench/run_sampling.sh [path/to/sampling_rflow]   (env: REPEATS=5, STEPS=100, SAMPLES=10000)
# The rflow executable is called as `$1 --threads N --steps S --repeats R --samples B` and
# must print one JSON line {"impl":"rflow","threads":N,"steps_per_s":...}.
# Sample quality against NFE (Euler vs DOPRI5) is the separate bench/run_nfe_quality.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rflow=${1:-}
repeats=${REPEATS:-5}
steps=${STEPS:-100}
samples=${SAMPLES:-10000}
build=$(mktemp -d "${TMPDIR:-/tmp}/rflow_bench.XXXXXX")
trap 'rm -rf "$build"' EXIT

# These machines force OpenBLAS onto older, slower kernels; undo that for both sides.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

source "$here/snapshot.sh"  # snapshot DIR EXE: a copy that a rebuild cannot swap
if [[ -n "$rflow" ]]; then
    snapshot "$build/rflow" "$rflow"
    rflow_cmd=(env LD_LIBRARY_PATH="$build/rflow/lib" "$build/rflow/$(basename "$rflow")")
fi

g++ -O3 -march=native -o "$build/sgemm_roofline" "$here/sgemm_roofline.cpp" -lopenblas

results="$build/results.jsonl"
for n in 1 2; do
    args=(--threads "$n" --steps "$steps" --repeats "$repeats")
    /usr/bin/python3 "$here/sampling_torch.py" "${args[@]}" --samples "$samples" | tee -a "$results"
    "$build/sgemm_roofline" "${args[@]}" --job sample --batch "$samples" | tee -a "$results"
    if [[ -n "$rflow" ]]; then "${rflow_cmd[@]}" "${args[@]}" --samples "$samples" | tail -n 1 | tee -a "$results"; fi
done
/usr/bin/python3 "$here/sampling_torch.py" --threads 2 --intra-op 1 --steps "$steps" \
    --repeats "$repeats" --samples "$samples" | tee -a "$results"

python3 - "$results" "$samples" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
samples = int(sys.argv[2])
rate = {}  # impl -> {threads: Euler steps/s}
for r in rows:
    rate.setdefault(r["impl"], {})[r["threads"]] = r["steps_per_s"]
threads = sorted({t for v in rate.values() for t in v})
print("\nEuler steps/s (%d samples each)" % samples)
print("%-16s" % "impl" + "".join("%12s" % f"{t} thr" for t in threads) + "%12s%18s" % ("best", "samples*steps/s"))
for impl, v in rate.items():
    best = max(v.values())
    print("%-16s" % impl + "".join("%12.1f" % v[t] if t in v else "%12s" % "-" for t in threads)
          + "%12.1f%18.3g" % (best, best * samples))
best = {impl: max(v.values()) for impl, v in rate.items()}
if "rflow" in best:
    torch_best = max(b for impl, b in best.items() if impl.startswith("torch"))
    print("\nrflow/torch     %.2f" % (best["rflow"] / torch_best))
    print("rflow/roofline  %.2f" % (best["rflow"] / best["sgemm_roofline"]))
PY
