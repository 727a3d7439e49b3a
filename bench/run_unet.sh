#!/usr/bin/env bash
# U-Net benchmark (DESIGN.md section 8), rflow against the same network in PyTorch
# (bench/unet_torch.py: default UNetConfig with 10 classes, 1.62M parameters on both sides):
#   training  flow-matching steps/s at batch 128 (Adam, dropout 0.1, label dropout 0.1)
#   sampling  images/s, Euler over 20 steps at batch 256, no autograd
# and the peak RSS of each (each mode runs in its own process). Both sides run at 1 and 2
# threads; torch also with 2 OpenBLAS threads but 1 intra-op thread. Ratios use each side's
# best row: speed rflow/torch (target >= 1.0 now, 1.5 goal) and memory rflow/torch of the row
# it was fastest in (target <= 1.0 now, 0.5 goal).
# Usage: bench/run_unet.sh path/to/unet_rflow   (env: REPEATS=3, TRAIN_STEPS=5, SAMPLE_STEPS=20)
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
for mode in train sample; do
    if [[ $mode == train ]]; then args=(--mode train --batch 128 --steps "$train_steps" --repeats "$repeats")
    else args=(--mode sample --batch 256 --steps "$sample_steps" --repeats "$repeats"); fi
    for n in 1 2; do
        /usr/bin/python3 "$here/unet_torch.py" "${args[@]}" --threads "$n" | tee -a "$results"
        "${rflow_cmd[@]}" "${args[@]}" --threads "$n" | tail -n 1 | tee -a "$results"
    done
    /usr/bin/python3 "$here/unet_torch.py" "${args[@]}" --threads 2 --intra-op 1 | tee -a "$results"
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for mode, key, unit in (("train", "steps_per_s", "steps/s (batch 128)"), ("sample", "images_per_s", "images/s (Euler 20, batch 256)")):
    print(f"\n{mode}: {unit}, peak RSS MiB")
    best = {}
    for r in rows:
        if r["mode"] != mode:
            continue
        print("  %-16s %d thr  %10.3f  %8.1f MiB" % (r["impl"], r["threads"], r[key], r["peak_rss_mib"]))
        side = "rflow" if r["impl"] == "rflow" else "torch"
        if side not in best or r[key] > best[side][key]:
            best[side] = r
    if len(best) == 2:
        print("  rflow/torch speed  %.2f" % (best["rflow"][key] / best["torch"][key]))
        print("  rflow/torch memory %.2f" % (best["rflow"]["peak_rss_mib"] / best["torch"]["peak_rss_mib"]))
PY
