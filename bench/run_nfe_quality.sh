#!/usr/bin/env bash
# Sample quality against NFE, Euler versus DOPRI5 (DESIGN.md section 8; no peer, no timing).
# Trains a 1-rectified flow on 8gaussians with the rflow CLI (or takes MODEL=checkpoint), then
# runs nfe_quality_rflow: from one fixed noise batch of SAMPLES points, Euler at steps EULER and
# DOPRI5 at tolerances TOLS (rtol = atol = tol, per-sample steps) and a reference solution
# (DOPRI5 at REF_TOL). Prints per method: NFE (calls to v), NFE per sample (rows evaluated / N:
# the compute, since per-sample DOPRI5 calls v on the unfinished rows only), sliced W2 to
# SAMPLES fresh data points (256 projections, as `rflow eval`), and the integration error
# against the reference: RMSE over the samples and sliced W2 to the reference samples.
# Then, for each DOPRI5 tolerance, the Euler step count of equal quality (log-log interpolation
# between neighbouring Euler rows; "~" marks an extrapolation past the last row along its
# slope) and the ratio Euler steps / DOPRI5 NFE, by sliced W2 to data and by RMSE to the
# exact solution. Sliced W2 to data has a floor set by the model's own error, and Euler can dip
# below the exact ODE's value on the way; the RMSE is the measure of integration accuracy.
# Usage: bench/run_nfe_quality.sh [path/to/rflow] [path/to/nfe_quality_rflow]
#          (defaults build/src/cli/rflow, build/bench/nfe_quality_rflow)
#   env: TRAIN_STEPS=5000, SEED=0 (training), MODEL=<checkpoint.safetensors> (skip training),
#        EULER="1 2 4 8 16 32 64 128", TOLS="1e-2 1e-3 1e-4 1e-5", REF_TOL=1e-7,
#        SAMPLES=10000, THREADS=1 (CPU threads; results do not depend on it, 1 is kindest to a
#        shared machine), KEEP=1 (keep the temp dir with the checkpoint and results.jsonl)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rflow=${1:-$here/../build/src/cli/rflow}
quality=${2:-$here/../build/bench/nfe_quality_rflow}
train_steps=${TRAIN_STEPS:-5000}
seed=${SEED:-0}
euler=${EULER:-1 2 4 8 16 32 64 128}
tols=${TOLS:-1e-2 1e-3 1e-4 1e-5}
ref_tol=${REF_TOL:-1e-7}
samples=${SAMPLES:-10000}
threads=${THREADS:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/rflow_nfe.XXXXXX")
if [[ -n "${KEEP:-}" ]]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

# As in every benchmark: undo the machines' forced older OpenBLAS kernels (speed only).
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

source "$here/snapshot.sh"  # snapshot DIR EXE: a copy that a rebuild cannot swap
snapshot "$work/bin" "$rflow"
snapshot "$work/bin" "$quality"
run() { OMP_NUM_THREADS=$threads LD_LIBRARY_PATH="$work/bin/lib" "$work/bin/$(basename "$1")" "${@:2}"; }

model=${MODEL:-}
if [[ -z "$model" ]]; then
    echo "training 1-RF on 8gaussians, $train_steps steps (seed $seed, $threads thread(s))"
    start=$SECONDS
    run "$rflow" train --dataset 8gaussians --steps "$train_steps" --seed "$seed" \
        --threads "$threads" --log-every 1000 -o "$work/1rf" | tail -n 3
    echo "trained in $((SECONDS - start)) s"
    model="$work/1rf/checkpoint.safetensors"
fi

run "$quality" --model "$model" --samples "$samples" --dataset 8gaussians --ref-tol "$ref_tol" \
    --euler "$(echo $euler | tr ' ' ,)" --tols "$(echo $tols | tr ' ' ,)" > "$work/results.jsonl"

python3 - "$work/results.jsonl" "$samples" <<'PY'
import json, math, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
n = int(sys.argv[2])
ref = next(r for r in rows if r["method"] == "reference")
eul = sorted((r for r in rows if r["method"] == "euler"), key=lambda r: r["steps"])
dop = [r for r in rows if r["method"] == "dopri5"]

def name(r):
    return {"euler": "euler %d" % r.get("steps", 0), "dopri5": "dopri5 tol %.0e" % r.get("tol", 0),
            "reference": "dopri5 tol %.0e (ref)" % r.get("tol", 0)}[r["method"]]

print("\n%-22s %6s %9s %11s %13s %13s" % ("method", "NFE", "NFE/smpl", "SW2 data", "RMSE exact",
                                          "SW2 exact"))
for r in [ref] + eul + dop:
    print("%-22s %6d %9.1f %11.4f %13.3g %13.3g" % (name(r), r["nfe"], r["row_evaluations"] / n,
                                                   r["sliced_w2"], r["rmse"], r["sw2_ref"]))

def euler_steps_for(target, key):
    """Euler steps with eul[key] == target: log-log interpolation on the first crossing of the
    decreasing curve; past the last row, extrapolation along the last segment's slope."""
    pts = [(r["steps"], r[key]) for r in eul]
    if target >= pts[0][1]:
        return None, "<= %d" % pts[0][0]
    for (k0, s0), (k1, s1) in zip(pts, pts[1:]):
        if s0 >= target >= s1 and s0 > s1:
            f = (math.log(s0) - math.log(target)) / (math.log(s0) - math.log(s1))
            return math.exp(math.log(k0) + f * math.log(k1 / k0)), "%.1f" % math.exp(
                math.log(k0) + f * math.log(k1 / k0))
    (k0, s0), (k1, s1) = pts[-2], pts[-1]
    if target > 0 and s1 < s0 and target < min(s for _, s in pts):
        slope = math.log(s1 / s0) / math.log(k1 / k0)
        k = k1 * math.exp(math.log(target / s1) / slope)
        return k, "~%.0f" % k
    return None, "> %d" % pts[-1][0]

for key, label in (("sliced_w2", "sliced W2 to data"), ("rmse", "RMSE to the exact ODE solution")):
    print("\nequal quality by %s: Euler steps matching each DOPRI5 run" % label)
    print("%-14s %6s %9s %12s %12s %12s %14s" % ("dopri5", "NFE", "NFE/smpl", key, "Euler steps",
                                                 "E / NFE", "E / NFE/smpl"))
    for r in dop:
        k, text = euler_steps_for(r[key], key)
        per = r["row_evaluations"] / n
        ratios = ("%.2f" % (k / r["nfe"]), "%.2f" % (k / per)) if k is not None else ("-", "-")
        print("%-14s %6d %9.1f %12.4g %12s %12s %14s" % ("tol %.0e" % r["tol"], r["nfe"], per, r[key],
                                                        text, *ratios))
PY
