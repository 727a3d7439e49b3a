#!/usr/bin/env bash
# Data-parallel training over MPI (rflow/dist.hpp): two ranks with the global batch of one process
# reach the same weights after 100 steps (within float tolerance), as do two GANs after 3, a
# repeated two-rank run is bit for bit the same, and a run resumes with another rank count. Skipped (with a message) when
# mpirun is missing or rflow was built without MPI.
# The library's overlapped all-reduce (dist::backward_mean) is checked bit for bit on 2 and 3 ranks by
# tests/mpi_backward_mean.cpp; train-classifier on 2 ranks against one process; a CUDA-device run
# (RFLOW_EMULATE_CUDA) on 2 ranks, whose gradients go through the host.
# Usage: mpi_test.sh path/to/rflow path/to/mpi_backward_mean
set -u
rflow=$1
backward_mean=$2
if ! command -v mpirun >/dev/null; then echo "skip: mpirun not found (apt-get install openmpi-bin)"; exit 0; fi
if ! "$rflow" info | grep -q "^mpi: yes"; then echo "skip: rflow was built without MPI (libopenmpi-dev)"; exit 0; fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fails=0
check() {  # check "what" expected_rc actual_rc
    if [ "$2" != "$3" ]; then echo "FAIL: $1 (exit $3, expected $2)"; fails=$((fails + 1)); else echo "ok: $1"; fi
}
mpi=(mpirun -np 2 --oversubscribe)
for np in 2 3; do
    mpirun -np $np --oversubscribe "$backward_mean" >"$dir/bm$np.out" 2>&1
    check "dist::backward_mean on $np ranks (overlapped, buckets of 1 to 2^18 floats)" 0 $?
    grep -q "rank 0 of $np: 0 failures" "$dir/bm$np.out" || { echo "FAIL: $np ranks ran, see:"; cat "$dir/bm$np.out"; fails=$((fails + 1)); }
done
args=(train --dataset moons --hidden 32 --depth 2 --num-samples 100 --threads 1 --no-tensorboard --log-every 25
      --checkpoint-every 0)
"$rflow" "${args[@]}" --batch-size 64 --steps 100 -o "$dir/one" >/dev/null 2>"$dir/one.err"; check "one process" 0 $?
"${mpi[@]}" "$rflow" "${args[@]}" --batch-size 64 --steps 100 -o "$dir/two" >/dev/null 2>"$dir/two.err"; check "two ranks" 0 $?
"${mpi[@]}" "$rflow" "${args[@]}" --batch-size 64 --steps 100 -o "$dir/two_again" >/dev/null 2>&1; check "two ranks again" 0 $?
RFLOW_ALLREDUCE=sync "${mpi[@]}" -x RFLOW_ALLREDUCE "$rflow" "${args[@]}" --batch-size 64 --steps 100 -o "$dir/two_sync" \
    >/dev/null 2>&1; check "two ranks, all-reduce after the backward (RFLOW_ALLREDUCE=sync)" 0 $?
RFLOW_EMULATE_CUDA=1 "${mpi[@]}" -x RFLOW_EMULATE_CUDA "$rflow" "${args[@]}" --device cuda --batch-size 64 --steps 100 \
    -o "$dir/two_cuda" >/dev/null 2>"$dir/two_cuda.err"; check "two ranks on (emulated) CUDA devices" 0 $?
"${mpi[@]}" "$rflow" "${args[@]}" --batch-size 64 --steps 50 -o "$dir/resumed" >/dev/null 2>&1 &&
    "$rflow" "${args[@]}" --batch-size 64 --steps 100 --resume -o "$dir/resumed" >/dev/null 2>&1
check "50 steps on two ranks, then 50 more on one" 0 $?
"${mpi[@]}" "$rflow" "${args[@]}" --steps 3 --batch-size 63 -o "$dir/odd" >/dev/null 2>"$dir/odd.err"
[ $? -ne 0 ]; check "a batch that does not divide among the ranks is refused" 0 $?
grep -q -- "--batch-size 63 does not divide among 2 MPI ranks" "$dir/odd.err"; check "... naming the flag" 0 $?
# GANs: WGAN-GP (its penalty differentiates twice) and ReFlow-GAN (variant A, a vector-field critic)
# (3 generator steps, 15 critic steps: GAN training amplifies float rounding quickly, 1e-7 after 3
# steps grows to 1e-4 after 10 and 1e-3 after 30 for WGAN-GP, so the comparison is early and tight)
gan=(gan train --dataset 8gaussians --steps 3 --batch-size 64 --eval-every 0 --num-samples 100 --threads 1
     --no-tensorboard --checkpoint-every 0)
for method in wgan-gp reflow-gan; do
    "$rflow" "${gan[@]}" --method $method -o "$dir/gan1_$method" >/dev/null 2>&1 &&
        "${mpi[@]}" "$rflow" "${gan[@]}" --method $method -o "$dir/gan2_$method" >/dev/null 2>&1
    check "gan train --method $method on 1 process and on 2 ranks" 0 $?
done
# train-classifier with EMO (adaptive costs from its own head) and cross-entropy rescaled to it
cls=(train-classifier --steps 10 --batch-size 32 --loss emo+ce --cost-embedding adaptive --threads 1 --no-tensorboard
     --checkpoint-every 0)
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    "$rflow" "${cls[@]}" -o "$dir/cls1" >/dev/null 2>&1 && "${mpi[@]}" "$rflow" "${cls[@]}" -o "$dir/cls2" >/dev/null 2>&1
    check "train-classifier on 1 process and on 2 ranks" 0 $?
else
    echo "skip: train-classifier on 2 ranks (no Fashion-MNIST: apt-get install dataset-fashion-mnist)"
fi
python3 - "$dir" <<'PY'
import os
import json, struct, sys
def weights(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k.startswith("model."):
            s, e = v["data_offsets"]
            raw = b[8 + n + s:8 + n + e]
            out[k] = struct.unpack("<%df" % (len(raw) // 4), raw)
    return out
d = sys.argv[1]
one, two, again, resumed, sync, cuda = (weights(f"{d}/{x}/checkpoint.safetensors")
                                         for x in ("one", "two", "two_again", "resumed", "two_sync", "two_cuda"))
diff = lambda a, b: max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
scale = max(abs(x) for k in one for x in one[k])
print(f"max |w_2ranks - w_1process| = {diff(one, two):.3g} (weights up to {scale:.3g}); "
      f"repeat {diff(two, again):.3g}; resumed on 1 rank {diff(one, resumed):.3g}; "
      f"all-reduce after the backward {diff(two, sync):.3g}; on CUDA devices {diff(one, cuda):.3g}")
assert one.keys() == two.keys() and len(one) > 0
assert diff(two, again) == 0.0, "two-rank runs differ"
assert diff(two, sync) == 0.0, "overlapping the all-reduce with the backward changed the bits"
assert diff(one, cuda) < 1e-3 * max(scale, 1.0), "two CUDA ranks drifted from one process"
assert diff(one, two) < 1e-3 * max(scale, 1.0), "two ranks drifted from one process"
assert diff(one, resumed) < 1e-3 * max(scale, 1.0), "the resumed run drifted"
for method in ("wgan-gp", "reflow-gan"):
    a, b = weights(f"{d}/gan1_{method}/checkpoint.safetensors"), weights(f"{d}/gan2_{method}/checkpoint.safetensors")
    s = max(abs(x) for k in a for x in a[k])
    print(f"gan {method}: max |w_2ranks - w_1process| = {diff(a, b):.3g} (weights up to {s:.3g})")
    assert a.keys() == b.keys() and diff(a, b) < 1e-5 * max(s, 1.0), method
if os.path.exists(f"{d}/cls2/classifier.safetensors"):
    a, b = weights(f"{d}/cls1/classifier.safetensors"), weights(f"{d}/cls2/classifier.safetensors")
    s = max(abs(x) for k in a for x in a[k])
    print(f"train-classifier: max |w_2ranks - w_1process| = {diff(a, b):.3g} (weights up to {s:.3g})")
    assert a.keys() == b.keys() and len(a) > 0 and diff(a, b) < 1e-5 * max(s, 1.0), "classifier"
PY
check "same weights as one process (flows and GANs); repeated runs bit-identical; resume across rank counts" 0 $?
loss_line() { grep '"step":100' "$1/metrics.jsonl" | head -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["loss"])'; }
python3 -c "import sys; a, b = map(float, sys.argv[1:]); assert abs(a - b) < 1e-3 * max(1, abs(a)), (a, b)" \
    "$(loss_line "$dir/one")" "$(loss_line "$dir/two")"
check "the logged loss is the global batch's" 0 $?
echo "$fails failed"
[ "$fails" -eq 0 ]
