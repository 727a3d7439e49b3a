#!/usr/bin/env bash
# Tokenizer benchmark (SPEC.md 6.e): byte-level unigram tokenizer throughput in MB/s.
# Corpus, offline: /usr/share/common-licenses/* and every /usr/share/doc/*/copyright, duplicates
# (same content) dropped, in path order (about 7 MB on Debian 12 with the usual packages).
# bench/tokenizer_rflow trains a vocabulary of VOCAB pieces on TRAIN_MB of those lines (every k-th
# line), then encodes every line with Viterbi decoding, the exact Viterbi sampler (alpha ALPHA) and
# the old 9768 rule (same alpha), single-threaded; MB/s is the best of REPEATS passes, by wall time
# and by the thread's CPU time (the steadier figure on a loaded machine).
# No peer runs here: SentencePiece and BytePiece are not installed on these machines; SPEC.md 6.e
# quotes their published figures (SP-Unigram 5.65 / 1.28 MB/s, BytePiece 1.95 / 1.36 MB/s).
# Prints the JSON lines of tokenizer_rflow, then a markdown table.
# Usage: bench/run_tokenizer.sh path/to/tokenizer_rflow
#   env: VOCAB=4096 TRAIN_MB=2 ALPHA=0.1 REPEATS=3 OMP_NUM_THREADS (training only; default 1)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
exe=${1:?usage: bench/run_tokenizer.sh path/to/tokenizer_rflow}
work=$(mktemp -d "${TMPDIR:-/tmp}/rflow_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

source "$here/snapshot.sh"  # snapshot DIR EXE: a copy that a rebuild cannot swap
snapshot "$work" "$exe"

{ ls /usr/share/common-licenses/* 2>/dev/null; find /usr/share/doc -name copyright -type f 2>/dev/null; } |
    LC_ALL=C sort | xargs -r -d '\n' md5sum | awk '!seen[$1]++ { print substr($0, 35) }' > "$work/files"
test -s "$work/files" || { echo "run_tokenizer.sh: no corpus files found" >&2; exit 1; }

mapfile -t files < "$work/files"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} env LD_LIBRARY_PATH="$work/lib" "$work/$(basename "$exe")" \
    --vocab "${VOCAB:-4096}" --train-mb "${TRAIN_MB:-2}" --alpha "${ALPHA:-0.1}" \
    --repeats "${REPEATS:-3}" "${files[@]}" | tee "$work/out.jsonl"

python3 - "$work/out.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print()
print("| stage | alpha | MB/s (wall) | MB/s (CPU time) | bytes/token | seconds |")
print("|---|---|---|---|---|---|")
for r in rows:
    if r["stage"] == "train":
        print(f"| train ({r['train_bytes']/1e6:.2f} MB, vocab {r['vocab']}) | | | | | {r['seconds']:.1f} |")
    else:
        a = "" if r["alpha"] < 0 else r["alpha"]
        print(f"| {r['stage']} | {a} | {r['mb_per_s']:.2f} | {r['cpu_mb_per_s']:.2f} | {r['bytes_per_token']:.2f} | {r['seconds']:.2f} |")
PY
