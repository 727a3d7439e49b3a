#!/usr/bin/env bash
# The documented quality runs of the samplers/ReFlow issue (not a test): for each dataset, 1-RF
# (MLP 3-256-256-256-2, SiLU, batch 1024, Adam 1e-3, 5000 steps), one reflow on 50,000 pairs
# (2-RF), a one-step distillation of the 2-RF, then `rflow eval` on 10,000 samples against 10,000
# fresh data points (sliced W2 with 256 directions, exact W2 on 2,000, straightness).
# Usage: bench/run_quality.sh [out_dir] [datasets...]   (default: out/quality 8gaussians moons)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/quality}
shift || true
datasets=("$@")
[ ${#datasets[@]} -eq 0 ] && datasets=(8gaussians moons)
rflow=./build/src/cli/rflow
for d in "${datasets[@]}"; do
  o="$out/$d"
  mkdir -p "$o/eval"
  $rflow train --dataset "$d" --steps 5000 -o "$o/1rf"
  $rflow reflow --model "$o/1rf/checkpoint.safetensors" --pairs 50000 --steps 5000 -o "$o/2rf"
  $rflow distill --model "$o/2rf/checkpoint.safetensors" --k 1 --pairs 50000 --steps 5000 -o "$o/distilled"
  $rflow eval --model "$o/1rf/checkpoint.safetensors" --model "$o/2rf/checkpoint.safetensors" \
      --model "$o/distilled/checkpoint.safetensors" --num-samples 10000 \
      --methods euler:1,euler:2,euler:4,euler:100,dopri5 -o "$o/eval" | tee "$o/eval/table.txt"
done
