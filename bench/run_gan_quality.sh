#!/usr/bin/env bash
# GAN quality runs documented in docs/gan-results.md (not a test): for each dataset, WGAN-GP,
# the zero-centred ReFlow-GAN (variant B) and the vector-field ReFlow-GAN (variant A) with
# 512-wide 3-layer MLPs, batch 256, STEPS generator iterations (n_critic 5, Adam betas 0.5/0.9,
# the learning rate after the method's colon), sliced W2 on 10,000 samples every EVAL_EVERY
# steps (with its data-vs-data floor); then flow matching (`rflow train`) for the wall time the
# slowest GAN took, for comparison at equal wall time. Prints one summary line per run.
# Usage: bench/run_gan_quality.sh path/to/rflow [out_dir]
#   env: DATASETS="8gaussians 25gaussians swissroll", METHODS="wgan-gp:1e-4 zero-centered:1e-3
#   reflow-gan:1e-3", STEPS=1000, EVAL_EVERY=250
set -euo pipefail
rflow=${1:?usage: bench/run_gan_quality.sh path/to/rflow [out_dir]}
out=${2:-out/gan-quality}
steps=${STEPS:-1000}
eval_every=${EVAL_EVERY:-250}
datasets=${DATASETS:-"8gaussians 25gaussians swissroll"}
methods=${METHODS:-"wgan-gp:1e-4 zero-centered:1e-3 reflow-gan:1e-3"}
export OMP_WAIT_POLICY=PASSIVE
for d in $datasets; do
    slowest=0
    for spec in $methods; do
        m=${spec%%:*}
        lr=${spec#*:}
        start=$(date +%s.%N)
        "$rflow" gan train --dataset "$d" --method "$m" --lr "$lr" --steps "$steps" --eval-every "$eval_every" \
            --log-every 100 -o "$out/$d-$m" 2>/dev/null | head -n 1
        secs=$(echo "$(date +%s.%N) - $start" | bc)
        echo "  $d $m (lr $lr): ${secs%.*} s; sliced W2 by step: $(grep sliced_w2 "$out/$d-$m/metrics.jsonl" | python3 -c '
import json, sys
rows = list(map(json.loads, sys.stdin))
print(" ".join("%d:%.4f" % (r["step"], r["sliced_w2"]) for r in rows), "(floor %.4f)" % rows[-1]["sliced_w2_floor"])')"
        if (( $(echo "$secs > $slowest" | bc) )); then slowest=$secs; fi
    done
    # flow matching for the same wall time: measure its speed on 200 steps first
    start=$(date +%s.%N)
    "$rflow" train --dataset "$d" --steps 200 --checkpoint-every 0 -o "$out/$d-fm-probe" >/dev/null 2>&1
    probe=$(echo "$(date +%s.%N) - $start" | bc)
    fm_steps=$(echo "200 * $slowest / $probe" | bc)
    "$rflow" train --dataset "$d" --steps "$fm_steps" --checkpoint-every 0 --num-samples 10000 -o "$out/$d-fm" 2>/dev/null | head -n 1 |
        sed "s/^/  $d flow matching, $fm_steps steps (same wall time): /"
done
