#!/usr/bin/env bash
# The CUDA backend's device check, in one run on a machine with an NVIDIA GPU (under 8 minutes):
#   1. configure with -Dcuda=enabled -Dgpu_arch=sm_90 (override: GPU_ARCH=sm_XX) and build;
#   2. run the CUDA tests: test_backend_ops (every op on CPU and CUDA, odd shapes, gradient checks
#      first and second order on CUDA, Philox equality) and test_device (modules, trainers, samplers,
#      critic, reflow, LoRA: the same seed on both devices), then the CLI with --device cuda, and
#      the NCCL gradient path on one rank (RFLOW_NCCL=1) against a run without it;
#   3. run the GPU benchmarks (bench/gpu_bench_rflow.cpp) beside PyTorch on CUDA
#      (bench/gpu_bench_torch.py), with and without TF32;
#   4. write $OUT/gpu_check.json (and the logs beside it).
# Header libraries come from .devdeps/ (bench/gpu_deps.sh fetches them where Debian is reachable).
#   usage: OUT=out/gpu bench/gpu_check.sh        (the device tool sets OUT)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu-check}
mkdir -p "$OUT"
export PATH="/usr/local/cuda/bin:$PATH"
ARCH=${GPU_ARCH:-sm_90}
JOBS=$(nproc)
T0=$(date +%s)
log() { echo "[gpu_check $(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/steps.log"; }

# ---- header libraries carried as Debian packages (no registry is reachable there) ----
if ls .devdeps/*.deb >/dev/null 2>&1; then
  ROOT="$PWD/.devdeps/root"
  mkdir -p "$ROOT"
  for f in .devdeps/*.deb; do dpkg-deb -x "$f" "$ROOT" 2>/dev/null || (cd "$ROOT" && ar p "$OLDPWD/$f" data.tar.xz | tar xJ); done
  export PKG_CONFIG_SYSROOT_DIR="$ROOT"
  export PKG_CONFIG_LIBDIR="$ROOT/usr/lib/x86_64-linux-gnu/pkgconfig:$ROOT/usr/share/pkgconfig"
  export CPATH="$ROOT/usr/include:$ROOT/usr/include/eigen3${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$ROOT/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export CMAKE_PREFIX_PATH="$ROOT/usr"
  log "header libraries from .devdeps: $(ls .devdeps/*.deb | wc -l) packages"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$OUT/gpu.txt" 2>&1
log "gpu: $(cat "$OUT/gpu.txt")"

# ---- 1. build ----
B=build-gpu
rm -rf "$B"
if meson setup "$B" -Dcuda=enabled -Dgpu_arch="$ARCH" -Dopencv=disabled -Dnative=true >"$OUT/configure.log" 2>&1 &&
   ninja -C "$B" -j "$JOBS" >"$OUT/build.log" 2>&1; then
  BUILD=ok
else
  BUILD=failed
fi
log "build: $BUILD"

# ---- 2. tests ----
TESTS=skipped
if [ "$BUILD" = ok ]; then
  # the GPU answers here, so RFLOW_EMULATE_CUDA (set by meson) is ignored and CUDA is tested
  meson test -C "$B" backend_ops device --num-processes 2 --print-errorlogs >"$OUT/tests.log" 2>&1 && TESTS=ok || TESTS=failed
  log "tests: $TESTS"
  CLI=failed
  R="$B/src/cli/rflow"
  if $R info >"$OUT/cli.log" 2>&1 &&
     $R train --device cuda --steps 300 --batch-size 512 --dataset moons --num-samples 2000 -o "$OUT/cli-cuda" >>"$OUT/cli.log" 2>&1 &&
     $R train --device cpu --steps 300 --batch-size 512 --dataset moons --num-samples 2000 -o "$OUT/cli-cpu" >>"$OUT/cli.log" 2>&1 &&
     $R sample --device cuda --model "$OUT/cli-cuda/checkpoint.safetensors" -n 1000 -o "$OUT/cli-cuda/samples.csv" >>"$OUT/cli.log" 2>&1; then
    CLI=ok
  fi
  log "cli: $CLI"
  # NCCL (src/dist/nccl.cpp): one GPU here, so RFLOW_NCCL=1 runs the NCCL all-reduce on one rank (a
  # mean over one: communicator, device buckets and copy back); the weights must match a run without it
  NCCL=skipped
  if grep -q "^nccl: yes" "$OUT/cli.log"; then
    nccl=(train --device cuda --steps 50 --batch-size 256 --dataset moons --num-samples 100 --no-tensorboard)
    if RFLOW_NCCL=1 $R "${nccl[@]}" -o "$OUT/nccl-on" >"$OUT/nccl.log" 2>&1 &&
       RFLOW_NCCL=0 $R "${nccl[@]}" -o "$OUT/nccl-off" >>"$OUT/nccl.log" 2>&1 &&
       python3 - "$OUT" >>"$OUT/nccl.log" 2>&1 <<'PY'
import json, struct, sys
def weights(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: struct.unpack("<%df" % ((v["data_offsets"][1] - v["data_offsets"][0]) // 4),
                             b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in h.items() if k.startswith("model.")}
a, b = (weights(f"{sys.argv[1]}/nccl-{x}/checkpoint.safetensors") for x in ("on", "off"))
d = max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
print(f"NCCL on one rank vs without: max weight difference {d:.3g}")
assert a.keys() == b.keys() and a and d < 1e-5
PY
    then NCCL=ok; else NCCL=failed; fi
  fi
  log "nccl: $NCCL"
fi

# ---- 3. benchmarks ----
: >"$OUT/bench.jsonl"
if [ "$BUILD" = ok ]; then
  for tf in "" "--tf32"; do
    for job in toy sample unet gemm; do
      timeout 120 "$B/bench/gpu_bench_rflow" --job $job $tf >>"$OUT/bench.jsonl" 2>>"$OUT/bench.log" || log "rflow $job $tf failed"
      timeout 120 python3 bench/gpu_bench_torch.py --job $job $tf >>"$OUT/bench.jsonl" 2>>"$OUT/bench.log" || log "torch $job $tf failed"
    done
    log "benchmarks ${tf:-fp32} done"
  done
fi

# ---- 4. report ----
python3 - "$OUT" "$BUILD" "$TESTS" "${CLI:-skipped}" "$(( $(date +%s) - T0 ))" "${NCCL:-skipped}" <<'PY'
import json, re, sys
out, build, tests, cli, seconds, nccl = sys.argv[1:7]
def read(name):
    try:
        return open(f"{out}/{name}").read()
    except OSError:
        return ""
bench = [json.loads(l) for l in read("bench.jsonl").splitlines() if l.startswith("{")]
summary = {}
for job in ("toy", "sample", "unet"):
    for tf in (False, True):
        r = {b["impl"]: b for b in bench if b["job"] == job and b["tf32"] == tf}
        if "rflow" in r and "torch" in r:
            key = "seconds" if job == "sample" else "steps_per_s"
            a, b = r["rflow"][key], r["torch"][key]
            summary[f"{job}{'_tf32' if tf else ''}_rflow_over_torch_speed"] = (b / a) if key == "seconds" else (a / b)
fr = [b["fraction_of_cublas"] for b in bench if b["job"] == "gemm" and b["impl"] == "rflow"]
if fr:
    summary["gemm_min_fraction_of_cublas"] = min(fr)
report = {"gpu": read("gpu.txt").strip(), "build": build, "tests": tests, "cli": cli, "nccl": nccl, "seconds": int(seconds),
          "test_lines": [l for l in read("tests.log").splitlines() if re.search(r"\b(OK|FAIL|Ok:|Fail:|TIMEOUT)\b", l)],
          "summary": summary, "bench": bench}
json.dump(report, open(f"{out}/gpu_check.json", "w"), indent=1)
print(json.dumps({k: report[k] for k in ("gpu", "build", "tests", "cli", "nccl", "seconds", "summary")}, indent=1))
PY
[ "$BUILD" = ok ] && [ "$TESTS" = ok ]
