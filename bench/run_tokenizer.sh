#!/usr/bin/env bash
# Tokenizer benchmark (SPEC.md 6.e): byte-level unigram tokenizer throughput in MB/s, side by side
# with SentencePiece's unigram on the same text in the same run.
# Corpus, offline: /usr/share/common-licenses/* and every /usr/share/doc/*/copyright, duplicates
# (same content) dropped, in path order (about 7 MB on Debian 12 with the usual packages).
# bench/tokenizer_rflow trains a vocabulary of VOCAB pieces on TRAIN_MB of those lines (every k-th
# line), then encodes every line with Viterbi decoding, the exact Viterbi sampler (alpha ALPHA) and
# the old 9768 rule (same alpha), single-threaded; MB/s is the best of REPEATS passes, by wall time
# and by the thread's CPU time (the steadier figure on a loaded machine).
# Peer: bench/tokenizer_sentencepiece.py, run by $SP_PYTHON (default /tmp/spvenv/bin/python, a
# venv for this benchmark only: python3 -m venv /tmp/spvenv && /tmp/spvenv/bin/pip install
# sentencepiece), trains SentencePiece's unigram on the same lines, same selection, same VOCAB,
# with byte fallback, and encodes every line single-threaded with Viterbi and with sampling
# (alpha ALPHA, nbest_size -1: the same distribution P(w)^alpha / Z as rflow's exact sampler),
# both one Python call per line and the whole list in one C++ batch call (num_threads 1). Where
# that python cannot import sentencepiece the peer is skipped with a message. SentencePiece is
# never a build or test dependency. SPEC.md 6.e quotes published figures of other machines
# (SP-Unigram 5.65 / 1.28 MB/s, BytePiece 1.95 / 1.36 MB/s).
# Prints the JSON lines of both, then a markdown table with ratios rflow / SentencePiece.
# Usage: bench/run_tokenizer.sh path/to/tokenizer_rflow
#   env: VOCAB=4096 TRAIN_MB=2 ALPHA=0.1 REPEATS=3 OMP_NUM_THREADS (rflow training only; default 1)
#        SP_PYTHON=/tmp/spvenv/bin/python (SP_PYTHON= skips the peer)
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

args=(--vocab "${VOCAB:-4096}" --train-mb "${TRAIN_MB:-2}" --alpha "${ALPHA:-0.1}" --repeats "${REPEATS:-3}")
mapfile -t files < "$work/files"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} env LD_LIBRARY_PATH="$work/lib" "$work/$(basename "$exe")" \
    "${args[@]}" "${files[@]}" | tee "$work/rflow.jsonl"

sp_python=${SP_PYTHON-/tmp/spvenv/bin/python}
: > "$work/sp.jsonl"
if [ -z "$sp_python" ]; then
    echo "run_tokenizer.sh: SP_PYTHON is empty: SentencePiece peer skipped" >&2
elif ! "$sp_python" -c 'import sentencepiece' 2>/dev/null; then
    echo "run_tokenizer.sh: '$sp_python' cannot import sentencepiece: peer skipped" \
         "(python3 -m venv /tmp/spvenv && /tmp/spvenv/bin/pip install sentencepiece, or set SP_PYTHON)" >&2
else
    "$sp_python" "$here/tokenizer_sentencepiece.py" "${args[@]}" "${files[@]}" | tee "$work/sp.jsonl"
fi

python3 - "$work/rflow.jsonl" "$work/sp.jsonl" <<'PY'
import json, sys
rf = {r["stage"]: r for r in map(json.loads, open(sys.argv[1]))}
sp = {r["stage"]: r for r in map(json.loads, open(sys.argv[2]))}
print()
if not sp:
    print("| stage | alpha | MB/s (wall) | MB/s (CPU time) | bytes/token | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rf.values():
        if r["stage"] == "train":
            print(f"| train ({r['train_bytes']/1e6:.2f} MB, vocab {r['vocab']}) | | | | | {r['seconds']:.1f} |")
        else:
            a = "" if r["alpha"] < 0 else r["alpha"]
            print(f"| {r['stage']} | {a} | {r['mb_per_s']:.2f} | {r['cpu_mb_per_s']:.2f} | {r['bytes_per_token']:.2f} | {r['seconds']:.2f} |")
    sys.exit(0)

def speed(r):  # "wall / CPU" MB/s
    return f"{r['mb_per_s']:.2f} / {r['cpu_mb_per_s']:.2f}" if r else "–"
def ratio(a, b):  # rflow / SentencePiece, wall / CPU
    return f"{a['mb_per_s']/b['mb_per_s']:.1f}× / {a['cpu_mb_per_s']/b['cpu_mb_per_s']:.1f}×" if a and b else "–"
def tpb(r):
    return f"{r['tokens']/r['bytes']:.3f}" if r else "–"

t, st = rf["train"], sp["train"]
alpha = rf["sample_exact"]["alpha"]
print(f"SentencePiece {st['version']} (Python wheel), same corpus: {rf['deterministic']['bytes']/1e6:.2f} MB, "
      f"{t['train_bytes']/1e6:.2f} MB of it for training; one thread. MB/s as wall / CPU time, best of the timed passes; "
      f"ratios rflow / SentencePiece (> 1: rflow faster).")
print()
print("| mode | rflow MB/s | SP per-line MB/s | SP batch MB/s | rflow / SP per-line | rflow / SP batch "
      "| tokens/byte rflow | tokens/byte SP (per-line / batch) |")
print("|---|---|---|---|---|---|---|---|")
for name, r, s, sb in [("Viterbi (deterministic)", rf.get("deterministic"), sp.get("deterministic"), sp.get("deterministic_batch")),
                       (f"sampling, α = {alpha} (exact: P(w)^α / Z)", rf.get("sample_exact"), sp.get("sample_exact"), sp.get("sample_exact_batch")),
                       (f"old 9768 rule, α = {alpha} (rflow only)", rf.get("sample_old_9768"), None, None)]:
    sptpb = f"{tpb(s)} / {tpb(sb)}" if s else "–"
    print(f"| {name} | {speed(r)} | {speed(s)} | {speed(sb)} | {ratio(r, s)} | {ratio(r, sb)} | {tpb(r)} | {sptpb} |")
print()
print("| training | seconds | vocabulary |")
print("|---|---|---|")
print(f"| rflow | {t['seconds']:.1f} | {t['vocab']} (256 bytes + {t['vocab'] - 256} multi-byte) |")
print(f"| SentencePiece | {st['seconds']:.1f} | {st['vocab']} ({st['byte_pieces']} byte-fallback + {st['special_pieces']} <unk> + "
      f"{st['multi_byte_pieces']} multi-byte + {st['vocab'] - st['byte_pieces'] - st['special_pieces'] - st['multi_byte_pieces']} single-character) |")
print(f"| rflow / SentencePiece | {t['seconds']/st['seconds']:.2f}× | |")
bad = [k for d in (rf, sp) for k, r in d.items() if r.get("round_trip") is False]
print()
print("Every output decodes back to its input." if not bad else f"decode(encode(x)) != x in: {', '.join(bad)}")
PY
