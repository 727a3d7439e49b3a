#!/usr/bin/env bash
# examples/torch_twin.py against rflow: trains tiny VelocityMLPs (each time embedding) and a tiny
# class-conditional U-Net with attention with the CLI, then compares v(x, t) from
# build/examples/velocity_eval and from the PyTorch twin on random inputs, EMA and raw weights.
# velocity_eval's error exits are checked first (no torch needed); the comparison is skipped when
# /usr/bin/python3 (or $TORCH_TWIN_PYTHON) has no torch.
# Usage: torch_twin_test.sh path/to/rflow path/to/velocity_eval path/to/torch_twin.py
set -u
rflow=$1
veval=$2
twin=$3
py=${TORCH_TWIN_PYTHON:-/usr/bin/python3}  # Debian's python3-torch lives there
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
check() {  # check "what" expected_rc actual_rc
    if [ "$2" != "$3" ]; then echo "FAIL: $1 (exit $3, expected $2)"; fails=$((fails + 1)); else echo "ok: $1"; fi
}

# MLPs: t as an input with SiLU, sinusoidal with GELU, random Fourier with tanh
mlp=(--steps 30 --hidden 32 --depth 2 --batch-size 64 --num-samples 50 --log-every 10)
"$rflow" train "${mlp[@]}" -o "$dir/mlp_none" >/dev/null 2>&1; check "train mlp (t as input, silu)" 0 $?
"$rflow" train "${mlp[@]}" --time-embedding sinusoidal --activation gelu -o "$dir/mlp_sin" >/dev/null 2>&1
check "train mlp (sinusoidal, gelu)" 0 $?
"$rflow" train "${mlp[@]}" --time-embedding fourier --activation tanh -o "$dir/mlp_fourier" >/dev/null 2>&1
check "train mlp (fourier, tanh)" 0 $?

# velocity_eval without torch: a small input file written with the standard library alone
python3 - "$dir/small.safetensors" <<'PY'
import json, struct, sys
x, t = [0.5, -1.0, 2.0, 0.25], [0.0, 1.0]
h = json.dumps({"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                "t": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + struct.pack("<6f", *x, *t))
PY
ck="$dir/mlp_none/checkpoint.safetensors"
"$veval" "$ck" "$dir/small.safetensors" "$dir/small_v.safetensors"; check "velocity_eval" 0 $?
[ -s "$dir/small_v.safetensors" ]; check "velocity_eval writes its output" 0 $?
"$veval" "$ck" "$dir/missing.safetensors" "$dir/o.safetensors" 2>"$dir/err"; check "velocity_eval: missing inputs" 2 $?
grep -q "missing.safetensors" "$dir/err"; check "... the message names the file" 0 $?
"$veval" "$ck" "$ck" "$dir/o.safetensors" 2>"$dir/err"; check "velocity_eval: inputs without x and t" 2 $?
grep -q "needs tensors" "$dir/err"; check "... the message says what is missing" 0 $?
"$veval" "$dir/small.safetensors" "$dir/small.safetensors" "$dir/o.safetensors" 2>/dev/null
check "velocity_eval: not a checkpoint" 2 $?
"$veval" "$ck" "$dir/small.safetensors" 2>/dev/null; check "velocity_eval: usage" 2 $?
[ ! -e "$dir/o.safetensors" ]; check "velocity_eval leaves no output after an error" 0 $?

if ! "$py" -c "import torch, numpy" 2>/dev/null; then
    echo "skip: torch not installed ($fails failed)"
    exit $((fails > 0))
fi

# a tiny U-Net: 8x8 RGB images of 3 classes (sub-folders), two levels, attention at both, dropout on
"$py" "$(dirname "$0")/make_three_classes.py" "$dir/three"
"$rflow" train-images --image-folder "$dir/three" --image-size 8 --channels 3 --base-channels 16 --channel-mults 1,2 \
    --res-blocks 2 --attention-levels 0,1 --heads 2 --lr 2e-3 --steps 30 --batch-size 8 --log-every 10 \
    --sample-every 0 --sample-steps 1 -o "$dir/unet" >/dev/null 2>&1
check "train-images (tiny class-conditional U-Net)" 0 $?

# random inputs (t includes both ends), labels with the null label
"$py" - "$twin" "$dir" <<'PY'
import os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[1])))
from torch_twin import write_safetensors
rng = np.random.default_rng(0)
t = lambda n: np.concatenate([[0.0, 1.0], rng.uniform(0, 1, n - 2)]).astype(np.float32)
write_safetensors(sys.argv[2] + "/in_mlp.safetensors", {"x": 2 * rng.standard_normal((64, 2)), "t": t(64)})
x = rng.standard_normal((6, 3, 8, 8))
write_safetensors(sys.argv[2] + "/in_unet.safetensors", {"x": x, "t": t(6)})
write_safetensors(sys.argv[2] + "/in_unet_labels.safetensors",
                  {"x": x, "t": t(6), "labels": np.array([0, 1, 2, 3, 1, 0], dtype=np.int64)})
PY
check "write random inputs" 0 $?

# compare A B [C]: relative max |A - B| / max |B| under 1e-4 on a non-trivial output; with C (the
# other weights' output), A must differ from it by far more, so the EMA/raw choice is tested too
compare() {
    "$py" - "$twin" "$@" <<'PY'
import os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[1])))
from torch_twin import read_safetensors
what, a, b = sys.argv[2], read_safetensors(sys.argv[3])[0]["v"], read_safetensors(sys.argv[4])[0]["v"]
assert a.shape == b.shape, f"shapes {a.shape} vs {b.shape}"
scale = float(np.abs(b).max())
diff = float(np.abs(a.astype(np.float64) - b).max())
rel = diff / max(scale, 1e-30)
print(f"{what}: max |rflow - torch| = {diff:.3g}, max |v| = {scale:.3g}, relative {rel:.3g}")
ok = rel < 1e-4 and scale > 1e-3
if len(sys.argv) > 5:
    other = float(np.abs(a - read_safetensors(sys.argv[5])[0]["v"]).max()) / scale
    print(f"{what}: EMA vs raw differ by {other:.3g} (relative)")
    ok = ok and other > 1e-2
sys.exit(0 if ok else 1)
PY
}

for m in mlp_none mlp_sin mlp_fourier unet; do
    ck="$dir/$m/checkpoint.safetensors"
    inputs=("$dir/in_mlp.safetensors")
    [ "$m" = unet ] && inputs=("$dir/in_unet.safetensors" "$dir/in_unet_labels.safetensors")
    for in in "${inputs[@]}"; do
        tag="$m$([ "$in" = "$dir/in_unet_labels.safetensors" ] && echo " (labels)")"
        for w in ema raw; do
            flag=(); [ $w = raw ] && flag=(--raw)
            "$veval" "$ck" "$in" "$dir/rf_$w.safetensors" "${flag[@]}"; check "velocity_eval $tag $w" 0 $?
            "$py" "$twin" "$ck" "$in" "$dir/pt_$w.safetensors" "${flag[@]}"; check "torch_twin $tag $w" 0 $?
        done
        compare "$tag ema" "$dir/rf_ema.safetensors" "$dir/pt_ema.safetensors" "$dir/rf_raw.safetensors"
        check "$tag: twin matches rflow (EMA weights)" 0 $?
        compare "$tag raw" "$dir/rf_raw.safetensors" "$dir/pt_raw.safetensors" "$dir/rf_ema.safetensors"
        check "$tag: twin matches rflow (raw weights)" 0 $?
    done
done

# the library API and the state-dict export
"$py" - "$twin" "$dir/unet/checkpoint.safetensors" "$dir/sd.pt" <<'PY'
import contextlib, io, os, sys
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[1])))
from torch_twin import load_rflow, main
model, info = load_rflow(sys.argv[2], use_ema=False)
assert info["kind"] == "unet" and info["sample_shape"] == [3, 8, 8] and not info["ema"], info
assert model.num_classes == 3
with contextlib.redirect_stderr(io.StringIO()) as err:
    assert main([sys.argv[2], os.devnull, os.devnull]) == 2  # unreadable inputs: exit 2
assert os.devnull in err.getvalue(), err.getvalue()
_, info = load_rflow(sys.argv[2])
assert info["ema"]
assert main([sys.argv[2], os.path.dirname(sys.argv[3]) + "/in_unet.safetensors", os.devnull,
             "--save-state-dict", sys.argv[3]]) == 0
sd = torch.load(sys.argv[3])
assert "down1_0_attn.attn.qkv.weight" in sd and "label_embed.weight" in sd, list(sd)[:8]
PY
check "load_rflow, the CLI's exit 2 and --save-state-dict" 0 $?

echo "$fails failed"
[ "$fails" -eq 0 ]
