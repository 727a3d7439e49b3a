#!/usr/bin/env bash
# U-Net benchmark (DESIGN.md section 8), rflow against the same network in PyTorch
# (bench/unet_torch.py: default UNetConfig with 10 classes, 1.62M parameters on both sides):
#   training  flow-matching steps/s at batch 128 (Adam, dropout 0.1, label dropout 0.1)
#   sampling  images/s, Euler over 20 steps at batch 256, no autograd
# and the peak RSS of each (each mode runs in its own process). Both sides run at 1 and 2
# threads; torch also with 2 OpenBLAS threads but 1 intra-op thread. Ratios use each side's
# best row: speed rflow/torch (target >= 1.0 now, 1.5 goal) and memory rflow/torch of the row
# it was fastest in (target <= 1.0 now, 0.5 goal).
# Usage: bench/run_unet.sh path/to/unet_rflow   (env: REPEATS=3, TRAIN_STEPS=5, SAMPLE_STEPS=20,
#   TORCH2_PYTHON=path/to/venv/bin/python: a second peer, e.g. PyTorch 2.x from PyPI in a venv)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rflow=${1:?usage: bench/run_unet.sh path/to/unet_rflow}
repeats=${REPEATS:-3}
train_steps=${TRAIN_STEPS:-5}
sample_steps=${SAMPLE_STEPS:-20}
work=$(mktemp -d "${TMPDIR:-/tmp}/rflow_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# These machines force OpenBLAS onto older, slower kernels; undo that for both sides.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

source "$here/snapshot.sh"  # snapshot DIR EXE: a copy that a rebuild cannot swap
snapshot "$work" "$rflow"
rflow_cmd=(env LD_LIBRARY_PATH="$work/lib" "$work/$(basename "$rflow")")

results="$work/results.jsonl"
peers=(/usr/bin/python3)
if [[ -n "${TORCH2_PYTHON:-}" ]]; then peers+=("$TORCH2_PYTHON"); fi
for mode in train sample; do
    if [[ $mode == train ]]; then args=(--mode train --batch 128 --steps "$train_steps" --repeats "$repeats")
    else args=(--mode sample --batch 256 --steps "$sample_steps" --repeats "$repeats"); fi
    for py in "${peers[@]}"; do
        for n in 1 2; do "$py" "$here/unet_torch.py" "${args[@]}" --threads "$n" | tee -a "$results"; done
        "$py" "$here/unet_torch.py" "${args[@]}" --threads 2 --intra-op 1 | tee -a "$results"
    done
    for n in 1 2; do "${rflow_cmd[@]}" "${args[@]}" --threads "$n" | tail -n 1 | tee -a "$results"; done
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for mode, key, unit in (("train", "steps_per_s", "steps/s (batch 128)"), ("sample", "images_per_s", "images/s (Euler 20, batch 256)")):
    print(f"\n{mode}: {unit}, peak RSS MiB")
    best = {}  # side (rflow, torch <version>) -> its fastest row
    for r in rows:
        if r["mode"] != mode:
            continue
        side = "rflow" if r["impl"] == "rflow" else "torch " + r.get("version", "?")
        name = side + r["impl"][len("torch"):] if side != "rflow" else side
        print("  %-24s %d thr  %10.3f  %8.1f MiB" % (name, r["threads"], r[key], r["peak_rss_mib"]))
        if side not in best or r[key] > best[side][key]:
            best[side] = r
    for side in sorted(s for s in best if s != "rflow"):
        if "rflow" not in best:
            break
        print("  rflow/%s: speed %.2f, memory %.2f" % (side, best["rflow"][key] / best[side][key],
                                                     best["rflow"]["peak_rss_mib"] / best[side]["peak_rss_mib"]))
PY
