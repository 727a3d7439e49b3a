#!/usr/bin/env bash
# Data-parallel scale-out (rflow/dist.hpp): training steps/s at 1 and 2 MPI ranks on this machine
# for the toy MLP, then a cost model of 8-256 ranks for the toy MLP, the U-Net and the DiT from
# the measured one-process step time and the all-reduce bytes (bench/scaleout_cost_model.py).
# Each rank runs one thread (--threads 1), so np 2 uses the machine's 2 cores as np 1 uses one.
# Usage: bench/run_scaleout.sh path/to/rflow     env: STEPS=300 (toy), IMAGE_STEPS=6
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rflow=${1:?usage: bench/run_scaleout.sh path/to/rflow}
work=$(mktemp -d "${TMPDIR:-/tmp}/rflow_scaleout.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
steps=${STEPS:-300} isteps=${IMAGE_STEPS:-6}

# seconds per step from metrics.jsonl (the last line's elapsed_s over its step, the first step excluded)
step_time() { python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"elapsed_s"' in l]
first, last = rows[0], rows[-1]
print((last["elapsed_s"] - first["elapsed_s"]) / (last["step"] - first["step"]))
PY
}
params() { grep -oE '[0-9]+ parameters' "$1" | head -1 | cut -d' ' -f1; }

toy=(train --dataset moons --batch-size 1024 --steps "$steps" --log-every 1 --num-samples 100 --no-tensorboard)
"$rflow" "${toy[@]}" --threads 1 -o "$work/toy1" >/dev/null 2>"$work/toy1.err"
mpirun -np 2 --oversubscribe "$rflow" "${toy[@]}" --threads 1 -o "$work/toy2" >/dev/null 2>"$work/toy2.err"
"$rflow" "${toy[@]}" --threads 2 -o "$work/toy1t2" >/dev/null 2>&1  # the same 2 cores as threads
t1=$(step_time "$work/toy1/metrics.jsonl") t2=$(step_time "$work/toy2/metrics.jsonl")
t12=$(step_time "$work/toy1t2/metrics.jsonl")
echo "| toy MLP ($(params "$work/toy1.err") parameters, batch 1024) | np 1, 1 thread | np 2, 1 thread each | np 1, 2 threads |"
echo "|---|---|---|---|"
python3 -c "import sys; a, b, c = map(float, sys.argv[1:]); print(f'| steps/s | {1/a:.1f} | {1/b:.1f} ({a/b:.2f}x) | {1/c:.1f} ({a/c:.2f}x) |')" \
    "$t1" "$t2" "$t12"
echo

img=(train-images --steps "$isteps" --log-every 1 --sample-every 0 --no-tensorboard --threads 2 --time-budget 0)
"$rflow" "${img[@]}" --batch-size 64 -o "$work/unet" >/dev/null 2>"$work/unet.err"
"$rflow" "${img[@]}" --batch-size 64 --arch dit -o "$work/dit" >/dev/null 2>"$work/dit.err"
python3 "$here/scaleout_cost_model.py" \
    "toy MLP:$(params "$work/toy1.err"):1024:$t1:2048" \
    "U-Net:$(params "$work/unet.err"):64:$(step_time "$work/unet/metrics.jsonl"):512" \
    "DiT:$(params "$work/dit.err"):64:$(step_time "$work/dit/metrics.jsonl"):512"
