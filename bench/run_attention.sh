#!/usr/bin/env bash
# Attention benchmark (DESIGN.md section 8): forward + backward of one self-attention layer,
# rflow (nn::make_attention, tiled online-softmax kernel, no L x L matrix) against the same layer in
# PyTorch 1.13 (bench/attention_torch.py: same projections and parameter count, plain materialised
# softmax(q k^T / sqrt(d)) v, since 1.13 has no scaled_dot_product_attention).
#   d 256, 8 heads of 32, no causal mask, no RoPE; variants mha, gqa (kv_heads 2), mqa and
#   mla (kv_latent 64, q_latent 96, rope_dim 16 with 1-D RoPE, RMSNorm on the latents, naive form);
#   loss = sum(out * w) with a fixed random w, backward to the input and every parameter;
#   L = 196 at batch 32 and L = 1024 at batch 4.
# First each variant is checked at a small size: rflow dumps its weights, inputs, output and
# gradients, torch loads them and must agree (relative error <= 1e-3), and the parameter counts must
# be equal. Then each (variant, L, threads, side) runs in its own process: time per step (best of
# REPEATS timings of STEPS steps, after one warm-up step), the RSS right before the first step and
# the peak RSS. Both sides run at 1 and 2 threads; ratios use each side's best thread count:
# speed torch_ms / rflow_ms (> 1: rflow faster) and memory rflow / torch, of the peak RSS and of the
# increase over the RSS before the first step (the part the layer's step itself costs).
# Prints one JSON line per measurement, then a markdown table.
# Usage: bench/run_attention.sh path/to/attention_rflow
#   env: REPEATS=3 STEPS=2 VARIANTS="mha gqa mqa mla" LENS="196 1024" BATCH_196=32 BATCH_1024=4
#        THREADS="1 2" (BATCH_<L> for any other L in LENS, default 4)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rflow=${1:?usage: bench/run_attention.sh path/to/attention_rflow}
repeats=${REPEATS:-3}
steps=${STEPS:-2}
variants=${VARIANTS:-mha gqa mqa mla}
lens=${LENS:-196 1024}
threads=${THREADS:-1 2}
work=$(mktemp -d "${TMPDIR:-/tmp}/rflow_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# These machines force OpenBLAS onto older, slower kernels; undo that for both sides.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

source "$here/snapshot.sh"  # snapshot DIR EXE: a copy that a rebuild cannot swap
snapshot "$work" "$rflow"
rflow_cmd=(env LD_LIBRARY_PATH="$work/lib" "$work/$(basename "$rflow")")
torch_cmd=(/usr/bin/python3 "$here/attention_torch.py")

# Same layer on both sides: outputs and gradients from the same weights must agree.
for v in $variants; do
    mkdir -p "$work/check_$v"
    "${rflow_cmd[@]}" --variant "$v" --len 16 --batch 2 --dump "$work/check_$v"
    "${torch_cmd[@]}" --variant "$v" --check "$work/check_$v"
done

results="$work/results.jsonl"
for len in $lens; do
    batch_var="BATCH_$len"
    batch=${!batch_var:-$([[ $len == 196 ]] && echo 32 || echo 4)}
    for v in $variants; do
        args=(--variant "$v" --len "$len" --batch "$batch" --steps "$steps" --repeats "$repeats")
        for n in $threads; do
            "${torch_cmd[@]}" "${args[@]}" --threads "$n" | tee -a "$results"
            "${rflow_cmd[@]}" "${args[@]}" --threads "$n" | tee -a "$results"
        done
    done
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
keys = []
for r in rows:
    if (r["variant"], r["len"]) not in keys:
        keys.append((r["variant"], r["len"]))
print()
print("Forward + backward of one attention layer (d 256, 8 heads of 32); time per step, best thread count "
      "per side; RSS in MiB as before first step -> peak.")
print()
print("| variant | L | batch | params | rflow ms (thr) | torch ms (thr) | speed torch/rflow "
      "| rflow RSS | torch RSS | peak RSS rflow/torch | RSS increase rflow/torch |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
failed = False
for variant, length in keys:
    group = [r for r in rows if r["variant"] == variant and r["len"] == length]
    if len({r["params"] for r in group}) != 1:
        print(f"ERROR: parameter counts differ for {variant} L={length}: "
              + ", ".join(f'{r["impl"]} {r["params"]}' for r in group), file=sys.stderr)
        failed = True
    best = {}
    for r in group:
        if r["impl"] not in best or r["ms_per_step"] < best[r["impl"]]["ms_per_step"]:
            best[r["impl"]] = r
    if len(best) != 2:
        continue
    a, b = best["rflow"], best["torch"]
    inc_a, inc_b = a["peak_rss_mib"] - a["rss_before_mib"], b["peak_rss_mib"] - b["rss_before_mib"]
    print(f'| {variant} | {length} | {a["batch"]} | {a["params"]} | {a["ms_per_step"]:.1f} ({a["threads"]}) '
          f'| {b["ms_per_step"]:.1f} ({b["threads"]}) | {b["ms_per_step"] / a["ms_per_step"]:.2f} '
          f'| {a["rss_before_mib"]:.0f} -> {a["peak_rss_mib"]:.0f} | {b["rss_before_mib"]:.0f} -> {b["peak_rss_mib"]:.0f} '
          f'| {a["peak_rss_mib"] / b["peak_rss_mib"]:.2f} '
          f'| {(inc_a / inc_b if inc_b > 0 else float("nan")):.2f} |')
sys.exit(1 if failed else 0)
PY
