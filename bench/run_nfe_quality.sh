#!/usr/bin/env bash
# Sample quality against NFE, Euler versus DOPRI5 (DESIGN.md section 8; no peer, no timing):
# trains a 1-rectified flow on 8gaussians with the rflow CLI (or takes MODEL=checkpoint), runs
# `rflow eval` at Euler steps EULER and DOPRI5 tolerances TOLS (rtol = atol = tol, per-sample
# steps, NFE = calls to v), and prints NFE and sliced W2 (256 projections, SAMPLES samples against
# as many fresh data points) per method; then, for each DOPRI5 tolerance, the Euler step count
# that reaches the same sliced W2 (log-log interpolation between neighbouring Euler rows) and
# the NFE ratio Euler/DOPRI5 at equal quality.
# Usage: bench/run_nfe_quality.sh [path/to/rflow]   (default build/src/cli/rflow)
#   env: TRAIN_STEPS=5000, SEED=0, MODEL=<checkpoint.safetensors> (skip training),
#        EULER="1 2 4 8 16 32 64 128", TOLS="1e-2 1e-3 1e-4 1e-5", SAMPLES=10000,
#        KEEP=1 (keep the temp dir with the checkpoint and eval.jsonl / eval.png)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rflow=${1:-$here/../build/src/cli/rflow}
train_steps=${TRAIN_STEPS:-5000}
seed=${SEED:-0}
euler=${EULER:-1 2 4 8 16 32 64 128}
tols=${TOLS:-1e-2 1e-3 1e-4 1e-5}
samples=${SAMPLES:-10000}
work=$(mktemp -d "${TMPDIR:-/tmp}/rflow_nfe.XXXXXX")
if [[ -n "${KEEP:-}" ]]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

# As in every benchmark: undo the machines' forced older OpenBLAS kernels (speed only).
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

# Run a snapshot of the rflow executable and its librflow, so that a rebuild of the build tree
# while this runs cannot swap the library underneath it.
snapshot() {
    mkdir -p "$1/lib"
    cp "$2" "$1/"
    local name arrow path rest
    if read -r name arrow path rest < <(ldd "$2" | grep librflow); then cp -L "$path" "$1/lib/$name"; fi
}
snapshot "$work/bin" "$rflow"
run_rflow() { LD_LIBRARY_PATH="$work/bin/lib" "$work/bin/$(basename "$rflow")" "$@"; }

model=${MODEL:-}
if [[ -z "$model" ]]; then
    echo "training 1-RF on 8gaussians, $train_steps steps (seed $seed)"
    start=$SECONDS
    run_rflow train --dataset 8gaussians --steps "$train_steps" --seed "$seed" \
        --log-every 1000 -o "$work/1rf" | tail -n 3
    echo "trained in $((SECONDS - start)) s"
    model="$work/1rf/checkpoint.safetensors"
fi

methods=""
for k in $euler; do methods+="euler:$k,"; done
for tol in $tols; do methods+="dopri5:$tol,"; done
run_rflow eval --model "$model" --methods "${methods%,}" --num-samples "$samples" \
    --dataset 8gaussians -o "$work/eval" > "$work/eval.log"

python3 - "$work/eval/eval.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [r for r in rows if "method" in r]  # not the per-model straightness row
eul = sorted(((r["nfe"], r["sliced_w2"]) for r in rows if r["method"] == "euler"))
dop = [r for r in rows if r["method"] == "dopri5"]
print("\n%-18s %8s %12s %10s" % ("method", "NFE", "sliced W2", "W2"))
for r in rows:
    name = "euler %d" % r["steps"] if r["method"] == "euler" else "dopri5 tol %.0e" % r["rtol"]
    print("%-18s %8d %12.4f %10.4f" % (name, r["nfe"], r["sliced_w2"], r["w2"]))

def euler_steps_for(target):
    """Euler steps reaching sliced W2 = target: log-log interpolation on the first crossing."""
    if target >= eul[0][1]:
        return None, "<= %d" % eul[0][0]
    for (k0, s0), (k1, s1) in zip(eul, eul[1:]):
        if s0 >= target >= s1:
            if s0 == s1:
                return k0, "%d" % k0
            f = (math.log(s0) - math.log(target)) / (math.log(s0) - math.log(s1))
            k = math.exp(math.log(k0) + f * (math.log(k1) - math.log(k0)))
            return k, "%.1f" % k
    return None, "> %d" % eul[-1][0]

print("\nequal quality: Euler steps matching each DOPRI5 run's sliced W2")
print("%-18s %8s %12s %14s %14s" % ("dopri5", "NFE", "sliced W2", "Euler steps", "NFE ratio E/D"))
for r in dop:
    k, text = euler_steps_for(r["sliced_w2"])
    ratio = "%.2f" % (k / r["nfe"]) if k is not None else ("> %.2f" % (eul[-1][0] / r["nfe"])
                                                           if text.startswith(">") else "-")
    print("%-18s %8d %12.4f %14s %14s" % ("tol %.0e" % r["rtol"], r["nfe"], r["sliced_w2"], text, ratio))
PY
