#!/usr/bin/env bash
# End-to-end checks of the rflow CLI: a tiny train/reflow/distill/sample/eval pipeline, resume,
# CSV data and exports, and the exit codes for bad usage (2) and bad input files (2).
# Usage: cli_test.sh path/to/rflow
set -u
rflow=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
check() {  # check "what" expected_rc actual_rc
    if [ "$2" != "$3" ]; then echo "FAIL: $1 (exit $3, expected $2)"; fails=$((fails + 1)); else echo "ok: $1"; fi
}
has() {  # has "what" file
    if [ -s "$2" ]; then echo "ok: $1"; else echo "FAIL: $1 ($2 missing)"; fails=$((fails + 1)); fi
}
small=(--batch-size 128 --num-samples 300 --log-every 20)

"$rflow" train "${small[@]}" --steps 60 --hidden 32 --dataset moons -o "$dir/1rf" >/dev/null 2>&1; check "train" 0 $?
has "checkpoint" "$dir/1rf/checkpoint.safetensors"
has "samples picture" "$dir/1rf/samples.png"
has "loss picture" "$dir/1rf/loss.png"
[ "$(grep -c '"loss"' "$dir/1rf/metrics.jsonl")" -eq 3 ]; check "metrics.jsonl has a line per 20 steps" 0 $?
# TensorBoard events beside metrics.jsonl: the file's records are whole (length and CRC framing),
# one loss scalar per metrics line; A1111-style "parameters" text on the pictures
python3 - "$dir/1rf" <<'PY'
import glob, struct, sys
files = glob.glob(sys.argv[1] + "/tensorboard/events.out.tfevents.*")
assert len(files) == 1, files
data, i, records, losses = open(files[0], "rb").read(), 0, 0, 0
while i < len(data):
    (n,) = struct.unpack_from("<Q", data, i)
    body = data[i + 12:i + 12 + n]
    assert len(body) == n and i + 16 + n <= len(data), "truncated record"
    losses += b"\n\x04loss" in body  # Summary.Value.tag = "loss"
    records += 1
    i += 16 + n
assert records >= 5 and losses == 3, (records, losses)
def png_text(path):
    d, i, out = open(path, "rb").read(), 8, {}
    while i < len(d):
        (n,) = struct.unpack_from(">I", d, i)
        if d[i + 4:i + 8] == b"tEXt":
            k, v = d[i + 8:i + 8 + n].split(b"\0", 1)
            out[k.decode()] = v.decode("latin-1")
        i += 12 + n
    return out
for name in ("samples.png", "loss.png"):
    p = png_text(sys.argv[1] + "/" + name).get("parameters", "")
    assert "Seed: " in p and "Version: rflow " in p, (name, p)
assert "Steps: 100, Sampler: euler" in png_text(sys.argv[1] + "/samples.png")["parameters"]
PY
check "TensorBoard events and PNG parameters text" 0 $?
"$rflow" train "${small[@]}" --steps 2 --hidden 8 --dataset moons --no-tensorboard -o "$dir/notb" >/dev/null 2>&1
[ ! -e "$dir/notb/tensorboard" ]; check "--no-tensorboard writes no events" 0 $?
# convert: an F16 export of the weights, imported back as a checkpoint, samples like the original
"$rflow" convert --model "$dir/1rf/checkpoint.safetensors" --dtype f16 -o "$dir/w16.safetensors" >/dev/null 2>&1
check "convert --dtype f16 (export)" 0 $?
"$rflow" convert --weights "$dir/w16.safetensors" --dataset moons -o "$dir/imported.safetensors" >/dev/null 2>&1
check "convert --weights (import)" 0 $?
"$rflow" sample --model "$dir/imported.safetensors" -n 200 --seed 3 -o "$dir/imported.csv" >/dev/null 2>&1 &&
    "$rflow" sample --model "$dir/1rf/checkpoint.safetensors" -n 200 --seed 3 -o "$dir/original.csv" >/dev/null 2>&1
python3 - "$dir/imported.csv" "$dir/original.csv" <<'PY'
import sys
rows = [[list(map(float, l.split(","))) for l in open(p).read().split()[1:]] for p in sys.argv[1:]]
diff = max(abs(a - b) for ra, rb in zip(*rows) for a, b in zip(ra, rb))
assert len(rows[0]) == 200 and diff < 0.05, diff
PY
check "an imported F16 model samples like the original" 0 $?
"$rflow" train "${small[@]}" --steps 80 --hidden 32 --dataset moons -o "$dir/1rf" --resume 2>&1 | grep -q "resumed from .* at step 60"
check "resume continues from the checkpoint" 0 $?
"$rflow" train "${small[@]}" --steps 90 --hidden 32 --dataset spiral -o "$dir/1rf" --resume >/dev/null 2>&1
check "resume refuses another dataset" 2 $?
# the EMA continues only as it began: another decay, or a checkpoint without warmup, is refused naming the flag
"$rflow" train "${small[@]}" --steps 90 --hidden 32 --dataset moons -o "$dir/1rf" --resume --ema 0.99 2>&1 >/dev/null |
    grep -q -- "--ema 0.999"; check "resume names the checkpoint's --ema" 0 $?
"$rflow" train "${small[@]}" --steps 20 --hidden 32 --dataset moons --no-ema-warmup -o "$dir/nowarm" >/dev/null 2>&1
"$rflow" train "${small[@]}" --steps 30 --hidden 32 --dataset moons --resume -o "$dir/nowarm" 2>&1 >/dev/null |
    grep -q -- "--no-ema-warmup"; check "resume without warmup names --no-ema-warmup" 0 $?
"$rflow" train "${small[@]}" --steps 30 --hidden 32 --dataset moons --resume --no-ema-warmup -o "$dir/nowarm" >/dev/null 2>&1
check "resume with --no-ema-warmup continues it" 0 $?
"$rflow" reflow --model "$dir/1rf/checkpoint.safetensors" "${small[@]}" --steps 60 --pairs 500 --pair-steps 5 -o "$dir/2rf" >/dev/null 2>&1
check "reflow" 0 $?
has "reflow pairs" "$dir/2rf/pairs.safetensors"
"$rflow" distill --model "$dir/2rf/checkpoint.safetensors" "${small[@]}" --steps 60 --pairs 500 --pair-steps 5 -o "$dir/d1" >/dev/null 2>&1
check "distill" 0 $?
"$rflow" sample --model "$dir/d1/checkpoint.safetensors" --num-samples 50 -o "$dir/s.csv" 2>&1 | grep -q "NFE 1,"
check "a distilled model samples with its k = 1 step by default" 0 $?
[ "$(wc -l < "$dir/s.csv")" -eq 51 ]; check "CSV export has a header and 50 rows" 0 $?
"$rflow" train "${small[@]}" --steps 60 --hidden 16 --data-csv "$dir/s.csv" -o "$dir/csv" >/dev/null 2>&1; check "train on CSV points" 0 $?
"$rflow" sample --model "$dir/2rf/checkpoint.safetensors" --sampling-method dopri5 --num-samples 100 \
    -o "$dir/s.png" --trajectories "$dir/t.png" >/dev/null 2>&1; check "sample with dopri5 and trajectories" 0 $?
has "trajectory picture" "$dir/t.png"
"$rflow" eval --model "$dir/1rf/checkpoint.safetensors" --model "$dir/2rf/checkpoint.safetensors" \
    --methods euler:1,rk4:2,dopri5:1e-3 --num-samples 200 --w2-points 100 -o "$dir/eval" >/dev/null 2>&1
check "eval" 0 $?
[ "$(grep -c '"sliced_w2"' "$dir/eval/eval.jsonl")" -eq 6 ]; check "eval.jsonl: 2 models x 3 methods" 0 $?
has "compare picture" "$dir/eval/compare.png"

# distillation sharpened by a critic
"$rflow" distill --model "$dir/2rf/checkpoint.safetensors" "${small[@]}" --steps 20 --pairs-file "$dir/2rf/pairs.safetensors" \
    --adversarial-weight 0.1 -o "$dir/d1adv" >/dev/null 2>&1; check "distill with an adversarial term" 0 $?
has "adversarial critic weights" "$dir/d1adv/adversarial_critic.safetensors"
"$rflow" distill --model "$dir/2rf/checkpoint.safetensors" "${small[@]}" --steps 20 --pairs-file "$dir/2rf/pairs.safetensors" \
    --adversarial-weight 0.1 --adversarial-loss wgan -o "$dir/d1bad" >/dev/null 2>&1; check "unknown adversarial loss" 2 $?

# LoRA fine-tuning: LoRA-GA init and LoRA+, the adapter applied to the base equals the fine-tune
"$rflow" train --base "$dir/1rf/checkpoint.safetensors" --steps 30 --batch-size 64 --num-samples 100 --lora-rank 4 \
    --lora-init lora-ga --lora-targets net.2,net.4 --lora-plus-ratio 16 -o "$dir/ft" >/dev/null 2>&1; check "train --base (LoRA)" 0 $?
has "PEFT adapter config" "$dir/ft/adapter/adapter_config.json"
"$rflow" sample --model "$dir/ft/checkpoint.safetensors" -n 50 -o "$dir/ft_a.csv" >/dev/null 2>&1
"$rflow" sample --model "$dir/1rf/checkpoint.safetensors" --lora "$dir/ft/adapter:1" -n 50 -o "$dir/ft_b.csv" >/dev/null 2>&1
check "sample --lora" 0 $?
python3 - "$dir/ft_a.csv" "$dir/ft_b.csv" <<'PY'
import csv, sys
a, b = ([list(map(float, r)) for r in list(csv.reader(open(p)))[1:]] for p in sys.argv[1:3])
sys.exit(0 if max(abs(x - y) for r, s in zip(a, b) for x, y in zip(r, s)) < 1e-4 else 1)
PY
check "base + exported adapter = the fine-tuned model" 0 $?
"$rflow" lora merge --model "$dir/1rf/checkpoint.safetensors" --lora "$dir/ft/adapter" -o "$dir/merged.safetensors" >/dev/null 2>&1
check "lora merge" 0 $?
"$rflow" sample --model "$dir/merged.safetensors" -n 10 -o "$dir/m.csv" >/dev/null 2>&1; check "a merged model samples" 0 $?
"$rflow" sample --model "$dir/1rf/checkpoint.safetensors" --lora "$dir/nope" -o "$dir/n.csv" >/dev/null 2>&1
check "missing adapter" 2 $?

# --seed -1 draws a seed, prints it and records it: rerunning with the printed seed repeats the run
"$rflow" train "${small[@]}" --steps 20 --hidden 16 --seed -1 -o "$dir/seed_a" >/dev/null 2>"$dir/seed.err"
check "train --seed -1" 0 $?
seed=$(sed -n 's/^seed: \([0-9]*\)$/\1/p' "$dir/seed.err")
[ -n "$seed" ]; check "--seed -1 prints the seed it drew" 0 $?
grep -aqF "\\\"seed\\\":$seed," "$dir/seed_a/checkpoint.safetensors"; check "the drawn seed is in the checkpoint's config" 0 $?
"$rflow" train "${small[@]}" --steps 20 --hidden 16 --seed "$seed" -o "$dir/seed_b" >/dev/null 2>&1
cmp -s "$dir/seed_a/checkpoint.safetensors" "$dir/seed_b/checkpoint.safetensors"
check "the printed seed reproduces the run" 0 $?

# LoRA with the default targets skips (and names) layers narrower than the rank; the result reloads
"$rflow" train --base "$dir/1rf/checkpoint.safetensors" --steps 5 --batch-size 64 --num-samples 100 --lora-rank 4 \
    -o "$dir/ft_default" >/dev/null 2>"$dir/ft_default.err"; check "train --base --lora-rank 4 with default targets" 0 $?
grep -q "skipping [0-9]* layer(s) narrower than 4: " "$dir/ft_default.err"; check "the skipped layer is named" 0 $?
"$rflow" sample --model "$dir/1rf/checkpoint.safetensors" --lora "$dir/ft_default/adapter" -n 10 -o "$dir/ftd.csv" >/dev/null 2>&1
check "its adapter applies to the base" 0 $?
"$rflow" sample --model "$dir/ft_default/checkpoint.safetensors" -n 10 -o "$dir/ftd2.csv" >/dev/null 2>&1
check "its checkpoint samples" 0 $?

# reflow pairs record their teacher and settings: another teacher's pairs in the folder are replaced
cp -r "$dir/2rf" "$dir/2rf_other"
"$rflow" reflow --model "$dir/d1/checkpoint.safetensors" "${small[@]}" --steps 20 --pairs 500 --pair-steps 5 \
    -o "$dir/2rf_other" 2>&1 >/dev/null | grep "made by another teacher or with other settings (its teacher is" >/dev/null
check "pairs of another teacher are regenerated, with a message" 0 $?
! cmp -s "$dir/2rf/pairs.safetensors" "$dir/2rf_other/pairs.safetensors"; check "... and replaced" 0 $?
"$rflow" reflow --model "$dir/1rf/checkpoint.safetensors" "${small[@]}" --steps 70 --pairs 500 --pair-steps 5 --resume \
    -o "$dir/2rf" 2>&1 >/dev/null | grep "using 500 pairs from" >/dev/null; check "the same teacher's pairs are reused" 0 $?
"$rflow" reflow --model "$dir/1rf/checkpoint.safetensors" "${small[@]}" --steps 70 --pairs 400 --pair-steps 5 --resume \
    -o "$dir/2rf" 2>&1 >/dev/null | grep "its count is \"500\", this run's \"400\"" >/dev/null; check "another pair count regenerates" 0 $?

# pair generation saves its progress per chunk; a run stopped midway resumes to the same pairs
pr=(--model "$dir/1rf/checkpoint.safetensors" "${small[@]}" --steps 5 --pairs 500 --pair-chunk 100 --pair-steps 5)
RFLOW_TEST_STOP_PAIRS_AFTER=200 "$rflow" reflow "${pr[@]}" -o "$dir/pairs_r" >/dev/null 2>&1; check "pair generation stopped midway" 1 $?
has "the progress is kept" "$dir/pairs_r/pairs.partial.safetensors"
"$rflow" reflow "${pr[@]}" -o "$dir/pairs_r" 2>&1 >/dev/null | grep "resuming pair generation at 200 of 500" >/dev/null
check "the next run resumes it" 0 $?
"$rflow" reflow "${pr[@]}" -o "$dir/pairs_u" >/dev/null 2>&1
cmp -s "$dir/pairs_r/pairs.safetensors" "$dir/pairs_u/pairs.safetensors"; check "resumed pairs equal uninterrupted ones" 0 $?
[ ! -e "$dir/pairs_r/pairs.partial.safetensors" ]; check "the progress file goes once the pairs are complete" 0 $?

# --resume refusing a changed setting shows the values cut short, however long they are
long="$dir"; for i in $(seq 12); do long="$long/$(printf 'x%.0s' $(seq 200))"; done
mkdir -p "$long" && cp "$dir/s.csv" "$long/p.csv"
"$rflow" train "${small[@]}" --steps 4 --hidden 16 --data-csv "$dir/s.csv" -o "$dir/res_long" >/dev/null 2>&1
"$rflow" train "${small[@]}" --steps 8 --hidden 16 --data-csv "$long/p.csv" --resume -o "$dir/res_long" 2>"$dir/res_long.err" >/dev/null
check "resume refuses another CSV" 2 $?
[ "$(wc -c < "$dir/res_long.err")" -lt 800 ]; check "... in a message of bounded length" 0 $?

# train-images --text on a folder of 3 classes (tiny PNGs written here)
python3 "$(dirname "$0")/make_three_classes.py" "$dir/three"
"$rflow" train-images --image-folder "$dir/three" --image-size 8 --arch dit --patch 4 --dim 16 --depth 1 --heads 2 --text \
    --steps 2 --batch-size 4 --log-every 1 --sample-every 0 --sample-steps 1 -o "$dir/three_text" >/dev/null 2>&1
check "train-images --text on a folder of 3 classes" 0 $?

# GANs: every method for a few steps, resume, sampling, bad input
gsmall=(--hidden 32 --depth 2 --batch-size 64 --num-samples 200 --log-every 5 --eval-every 10)
for m in wgan-gp zero-centered reflow-gan; do
    "$rflow" gan train --method "$m" --steps 10 "${gsmall[@]}" -o "$dir/gan-$m" >/dev/null 2>&1; check "gan train $m" 0 $?
    has "gan $m picture" "$dir/gan-$m/samples.png"
done
grep -q '"sliced_w2"' "$dir/gan-zero-centered/metrics.jsonl"; check "gan metrics report sliced W2" 0 $?
"$rflow" gan train --method zero-centered --steps 15 "${gsmall[@]}" -o "$dir/gan-zero-centered" --resume 2>&1 |
    grep -q "resumed from .* at step 10"; check "gan resume" 0 $?
"$rflow" gan train --method wgan-gp --steps 15 "${gsmall[@]}" -o "$dir/gan-zero-centered" --resume >/dev/null 2>&1
check "gan resume refuses another method" 2 $?
"$rflow" gan sample --model "$dir/gan-reflow-gan/checkpoint.safetensors" -n 40 -o "$dir/gan.csv" >/dev/null 2>&1
check "gan sample to CSV" 0 $?
[ "$(wc -l < "$dir/gan.csv")" -eq 41 ]; check "gan CSV has a header and 40 rows" 0 $?
"$rflow" gan sample --model "$dir/1rf/checkpoint.safetensors" -o "$dir/g.png" >/dev/null 2>&1; check "gan sample refuses a flow" 2 $?
"$rflow" gan train --method wgan --steps 2 -o "$dir/gan-bad" >/dev/null 2>&1; check "unknown gan method" 2 $?
# --ema: an average of the generator, checkpointed, resumed, sampled; another decay is refused
"$rflow" gan train --method wgan-gp --ema 0.99 --steps 10 "${gsmall[@]}" -o "$dir/gan-ema" >/dev/null 2>&1
check "gan train --ema" 0 $?
"$rflow" gan train --method wgan-gp --ema 0.99 --steps 14 "${gsmall[@]}" -o "$dir/gan-ema" --resume 2>&1 |
    grep -q "resumed from .* at step 10"; check "gan --ema resume" 0 $?
"$rflow" gan train --method wgan-gp --steps 16 "${gsmall[@]}" -o "$dir/gan-ema" --resume 2>&1 >/dev/null | grep -q "ema"
check "gan resume names a changed --ema" 0 $?
"$rflow" gan sample --model "$dir/gan-ema/checkpoint.safetensors" -n 10 -o "$dir/gan-ema.csv" >/dev/null 2>&1
check "gan sample of an EMA generator" 0 $?
# --activation: ReLU by default for WGAN-GP, SiLU for the others, recorded in the checkpoint's config
gan_activation() {
    python3 -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
print(json.loads(json.loads(f.read(n))["__metadata__"]["config"])["activation"])' "$1/checkpoint.safetensors"
}
[ "$(gan_activation "$dir/gan-wgan-gp")" = relu ]; check "gan wgan-gp defaults to relu" 0 $?
python3 -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
sys.exit(abs(json.loads(json.loads(f.read(n))["__metadata__"]["config"])["lambda"] - 0.1) > 1e-6)' \
    "$dir/gan-wgan-gp/checkpoint.safetensors"; check "gan wgan-gp on points defaults to lambda 0.1" 0 $?
[ "$(gan_activation "$dir/gan-zero-centered")" = silu ]; check "gan zero-centered defaults to silu" 0 $?
"$rflow" gan train --method wgan-gp --activation tanh --steps 5 "${gsmall[@]}" -o "$dir/gan-tanh" >/dev/null 2>&1
check "gan train --activation tanh" 0 $?
[ "$(gan_activation "$dir/gan-tanh")" = tanh ]; check "gan --activation recorded" 0 $?
"$rflow" gan sample --model "$dir/gan-tanh/checkpoint.safetensors" -n 10 -o "$dir/gan-tanh.csv" >/dev/null 2>&1
check "gan sample rebuilds the tanh generator" 0 $?
"$rflow" gan train --method wgan-gp --steps 8 "${gsmall[@]}" -o "$dir/gan-tanh" --resume 2>&1 | grep -q "activation"
check "gan resume names a changed activation" 0 $?

# images: a tiny U-Net on Fashion-MNIST for a few steps (skipped when the dataset is not installed)
fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/train-images-idx3-ubyte.gz" ]; then
    tiny=(--base-channels 8 --channel-mults 1,2 --res-blocks 1 --attention-levels 1 --heads 2 --batch-size 16)
    "$rflow" train-images "${tiny[@]}" --steps 40 --log-every 10 --sample-every 0 --sample-steps 2 -o "$dir/img" >/dev/null 2>&1
    check "train-images" 0 $?
    has "image sample grid" "$dir/img/samples.png"
    first=$(grep '"loss"' "$dir/img/metrics.jsonl" | head -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
    last=$(grep '"loss"' "$dir/img/metrics.jsonl" | tail -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
    python3 -c "import sys; sys.exit(0 if $last < $first else 1)"; check "image loss drops ($first -> $last)" 0 $?
    "$rflow" sample --model "$dir/img/checkpoint.safetensors" -n 8 --class 7 --cfg-scale 2 --sampling-method heun \
        --steps 2 --seed 42 -o "$dir/g1.png" >/dev/null 2>&1; check "sample an image grid" 0 $?
    "$rflow" sample --model "$dir/img/checkpoint.safetensors" -n 8 --class 7 --cfg-scale 2 --sampling-method heun \
        --steps 2 --seed 42 -o "$dir/g2.png" >/dev/null 2>&1
    cmp -s "$dir/g1.png" "$dir/g2.png"; check "same seed, same image" 0 $?
    "$rflow" sample --model "$dir/img/checkpoint.safetensors" -n 8 --class 10 -o "$dir/g3.png" >/dev/null 2>&1
    check "class outside the model's classes" 2 $?
    "$rflow" train-classifier --steps 20 --batch-size 32 -o "$dir/clf" >/dev/null 2>&1; check "train-classifier" 0 $?
    "$rflow" train-classifier --steps 24 --batch-size 32 -o "$dir/clf" --resume 2>&1 >/dev/null |
        grep -q "resumed from .* at step 20"; check "train-classifier --resume" 0 $?
    "$rflow" train-classifier --steps 30 --batch-size 16 -o "$dir/clf" --resume 2>&1 >/dev/null |
        grep -q "batch_size = 32, this run 16"; check "train-classifier --resume refuses another batch size" 0 $?
    "$rflow" train-classifier --init "$dir/clf/classifier.safetensors" --loss ce+emo --steps 3 --batch-size 16 \
        -o "$dir/clf_emo" >/dev/null 2>&1; check "train-classifier --loss ce+emo (fine-tune)" 0 $?
    grep -q '"mean_mistake_cost"' "$dir/clf_emo/metrics.json"; check "classifier metrics report the cost of mistakes" 0 $?
    "$rflow" train-classifier --loss emo --steps 1 -o "$dir/clf_bad" >/dev/null 2>&1; check "EMO with a fixed cost needs --init" 2 $?
    "$rflow" train-classifier --loss kl --steps 1 -o "$dir/clf_bad" >/dev/null 2>&1; check "unknown --loss" 2 $?
    "$rflow" eval --model "$dir/img/checkpoint.safetensors" --classifier "$dir/clf/classifier.safetensors" \
        --num-samples 20 --methods euler:2 --cfg-scales 2 -o "$dir/img_eval" >/dev/null 2>&1; check "image eval" 0 $?
    grep -q '"accuracy"' "$dir/img_eval/eval.jsonl"; check "image eval reports accuracy" 0 $?
    "$rflow" train-images --base "$dir/img/checkpoint.safetensors" --batch-size 16 --steps 5 --log-every 5 \
        --sample-every 0 --sample-steps 2 --lora-rank 2 --lora-init lora-ga --lora-ga-samples 16 -o "$dir/img_ft" >/dev/null 2>&1
    check "train-images --base (LoRA on convs and attention)" 0 $?
    has "image adapter" "$dir/img_ft/adapter/adapter_model.safetensors"
    "$rflow" sample --model "$dir/img/checkpoint.safetensors" --lora "$dir/img_ft/adapter:0.5" -n 4 --steps 2 \
        -o "$dir/g_lora.png" >/dev/null 2>&1; check "sample an image model with an adapter" 0 $?
    # a tiny DiT (16 tokens of 7x7 patches): train, sample from the checkpoint, LoRA on its projections
    dit=(--arch dit --patch 7 --dim 16 --depth 1 --heads 2 --batch-size 16 --log-every 5 --sample-every 0 --sample-steps 2)
    "$rflow" train-images "${dit[@]}" --steps 10 -o "$dir/dit" >/dev/null 2>&1; check "train-images --arch dit" 0 $?
    "$rflow" sample --model "$dir/dit/checkpoint.safetensors" -n 4 --class 3 --steps 2 -o "$dir/dit.png" >/dev/null 2>&1
    check "sample a DiT checkpoint" 0 $?
    has "DiT sample grid" "$dir/dit.png"
    "$rflow" train-images "${dit[@]}" --attention mla --kv-latent 8 --rope-dim 4 --unconditional --steps 3 \
        -o "$dir/dit_mla" >/dev/null 2>&1; check "train-images --arch dit --attention mla" 0 $?
    "$rflow" train-images --base "$dir/dit/checkpoint.safetensors" --batch-size 16 --steps 3 --log-every 3 \
        --sample-every 0 --sample-steps 2 --lora-rank 2 -o "$dir/dit_ft" >/dev/null 2>&1; check "train-images --base (LoRA on a DiT)" 0 $?
    has "DiT adapter" "$dir/dit_ft/adapter/adapter_model.safetensors"
    # text prompts: captions -> tokenizer -> prompt encoder -> DiT; sample with --prompt
    "$rflow" train-images "${dit[@]}" --text --steps 4 -o "$dir/tdit" >/dev/null 2>&1; check "train-images --arch dit --text" 0 $?
    # resuming a text model continues its caption draws: the same checkpoint as an uninterrupted run
    "$rflow" train-images "${dit[@]}" --text --steps 2 --checkpoint-every 2 -o "$dir/tdit_r" >/dev/null 2>&1
    "$rflow" train-images "${dit[@]}" --text --steps 4 --checkpoint-every 2 --resume -o "$dir/tdit_r" >/dev/null 2>&1
    "$rflow" train-images "${dit[@]}" --text --steps 4 --checkpoint-every 2 -o "$dir/tdit_u" >/dev/null 2>&1
    cmp -s "$dir/tdit_r/checkpoint.safetensors" "$dir/tdit_u/checkpoint.safetensors"
    check "a resumed text run equals an uninterrupted one, bit for bit" 0 $?
    "$rflow" sample --model "$dir/tdit/checkpoint.safetensors" --prompt "a pair of sneakers" -n 4 --steps 2 \
        --classifier "$dir/clf/classifier.safetensors" -o "$dir/tdit.png" > "$dir/tdit.out" 2>&1; check "sample --prompt" 0 $?
    grep -q "names class 7" "$dir/tdit.out"; check "sample --prompt names the prompt's class" 0 $?
    grep -q "samples in the prompt's class" "$dir/tdit.out"; check "sample --prompt --classifier reports agreement" 0 $?
    "$rflow" sample --model "$dir/dit/checkpoint.safetensors" --prompt "a bag" -n 2 --steps 1 -o "$dir/x.png" >/dev/null 2>&1
    check "--prompt on a model without text conditioning" 2 $?
    "$rflow" train-images --arch dit --patch 5 --steps 1 -o "$dir/dit_bad" >/dev/null 2>&1
    check "--patch that does not divide the image size" 2 $?
    "$rflow" train-images --arch dit --attention gqa --kv-heads 3 --steps 1 -o "$dir/dit_bad" >/dev/null 2>&1
    check "--kv-heads that does not divide --heads" 2 $?
    "$rflow" gan train --dataset fashion-mnist --method zero-centered --steps 3 --n-critic 1 --batch-size 8 \
        --base-channels 4 --latent-dim 8 --eval-every 0 -o "$dir/gan-img" >/dev/null 2>&1; check "gan on images" 0 $?
    has "gan image grid" "$dir/gan-img/samples.png"
    "$rflow" gan sample --model "$dir/gan-img/checkpoint.safetensors" -n 4 -o "$dir/gan-img.png" >/dev/null 2>&1
    check "gan sample images" 0 $?
else
    echo "skipped image checks: $fm not installed"
fi

"$rflow" train --bogus >/dev/null 2>&1; check "unknown flag" 2 $?
"$rflow" train-images --arch vit -o "$dir/x" >/dev/null 2>&1; check "unknown --arch" 2 $?
"$rflow" train-images --arch dit --attention nope -o "$dir/x" >/dev/null 2>&1; check "unknown --attention" 2 $?
"$rflow" train-images --arch dit --rope 1d -o "$dir/x" >/dev/null 2>&1; check "unknown --rope" 2 $?
"$rflow" train-images --patch 2 -o "$dir/x" >/dev/null 2>&1; check "a DiT flag without --arch dit" 2 $?
"$rflow" train-images --text -o "$dir/x" >/dev/null 2>&1; check "--text without --arch dit" 2 $?
"$rflow" train --batch-size 0 >/dev/null 2>&1; check "non-positive batch size" 2 $?
"$rflow" train --dataset nope -o "$dir/x" >/dev/null 2>&1; check "unknown dataset" 2 $?
"$rflow" sample --model "$dir/missing.safetensors" -o "$dir/a.png" >/dev/null 2>&1; check "missing model file" 2 $?
echo garbage > "$dir/bad.safetensors"
"$rflow" sample --model "$dir/bad.safetensors" -o "$dir/a.png" >/dev/null 2>&1; check "malformed model file" 2 $?
"$rflow" sample --model "$dir/1rf/checkpoint.safetensors" --sampling-method rk5 -o "$dir/a.png" >/dev/null 2>&1
check "unknown sampler" 2 $?
"$rflow" sample --model "$dir/1rf/checkpoint.safetensors" -o "$dir/a.txt" >/dev/null 2>&1; check "bad output extension" 2 $?
[ ! -e "$dir/a.png" ]; check "failed commands leave no output behind" 0 $?
"$rflow" --help >/dev/null 2>&1; check "--help" 0 $?
"$rflow" train --help | grep -q "batch-size INT:\[1, 1048576\]=1024"; check "train --help shows defaults and ranges" 0 $?

# --device: without a GPU, cuda is a clear usage error; under RFLOW_EMULATE_CUDA (host memory standing
# in for the GPU) a run on "cuda" must match the CPU run loss for loss (noise, times and batches are
# drawn on the host), and sample/eval/reflow take the flag too
"$rflow" train --device tpu -o "$dir/x" >/dev/null 2>&1; check "unknown --device" 2 $?
if ! "$rflow" info | grep -q "cuda: available"; then
    "$rflow" train --device cuda "${small[@]}" --steps 20 -o "$dir/nogpu" 2>&1 | grep -q -- "--device cuda: no CUDA GPU"
    check "--device cuda without a GPU names the flag" 0 $?
fi
RFLOW_EMULATE_CUDA=1 "$rflow" train --device cuda "${small[@]}" --steps 40 --hidden 32 --dataset moons -o "$dir/dev-cuda" >/dev/null 2>&1
check "train --device cuda" 0 $?
RFLOW_EMULATE_CUDA=1 "$rflow" train --device cpu "${small[@]}" --steps 40 --hidden 32 --dataset moons -o "$dir/dev-cpu" >/dev/null 2>&1
check "train --device cpu" 0 $?
# (within float tolerance: the device's Adam runs as element-wise ops, the CPU's as one fused pass)
paste <(grep -o '"loss":[^,}]*' "$dir/dev-cuda/metrics.jsonl" | cut -d: -f2) \
      <(grep -o '"loss":[^,}]*' "$dir/dev-cpu/metrics.jsonl" | cut -d: -f2) |
    awk 'NF != 2 { bad = 1 } { d = $1 - $2; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2; if (d > 1e-3 * a + 1e-5) bad = 1; n++ }
         END { exit (bad || n < 2) }'
check "the same seed gives the same losses on both devices" 0 $?
RFLOW_EMULATE_CUDA=1 "$rflow" sample --device cuda --model "$dir/dev-cuda/checkpoint.safetensors" --num-samples 50 -o "$dir/dev.csv" >/dev/null 2>&1
check "sample --device cuda" 0 $?
RFLOW_EMULATE_CUDA=1 "$rflow" eval --device cuda --model "$dir/dev-cuda/checkpoint.safetensors" --methods euler:4 \
    --num-samples 100 --w2-points 50 -o "$dir/dev-eval" >/dev/null 2>&1
check "eval --device cuda" 0 $?
RFLOW_EMULATE_CUDA=1 "$rflow" reflow --device cuda --model "$dir/dev-cuda/checkpoint.safetensors" "${small[@]}" --steps 20 \
    --pairs 200 --pair-steps 3 -o "$dir/dev-2rf" >/dev/null 2>&1
check "reflow --device cuda" 0 $?
RFLOW_EMULATE_CUDA=1 "$rflow" train --device cuda "${small[@]}" --steps 60 --hidden 32 --dataset moons -o "$dir/dev-cuda" \
    --resume >/dev/null 2>&1
check "train --device cuda --resume" 0 $?
RFLOW_EMULATE_CUDA=1 "$rflow" gan train --device cuda --steps 20 --batch-size 64 --n-critic 2 --hidden 32 --depth 2 \
    --num-samples 200 -o "$dir/dev-gan" >/dev/null 2>&1
check "gan train --device cuda" 0 $?
RFLOW_EMULATE_CUDA=1 "$rflow" gan sample --device cuda --model "$dir/dev-gan/checkpoint.safetensors" -n 50 \
    -o "$dir/dev-gan.csv" >/dev/null 2>&1
check "gan sample --device cuda" 0 $?

echo "$fails failed"
[ "$fails" -eq 0 ]
