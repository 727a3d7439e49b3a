#!/usr/bin/env python3
"""SentencePiece peer of bench/tokenizer_rflow (SPEC.md 6.e), for bench/run_tokenizer.sh.

Trains SentencePiece's unigram model on the same training text as tokenizer_rflow (same corpus
lines, each with its '\\n'; the same every-k-th selection of about --train-mb MB; the same total
vocabulary size), then encodes every corpus line single-threaded:
  deterministic        Viterbi, one encode() call per line (Python call overhead included)
  deterministic_batch  Viterbi, the whole list in one encode(list, num_threads=1) call (C++ loop)
  sample_exact         enable_sampling=True, alpha, nbest_size=-1, one call per line: a draw with
                       probability P(w)^alpha / Z over all segmentations, the distribution that
                       rflow's exact sampler draws from
  sample_exact_batch   the same, whole list in one call
MB/s is the best of --repeats passes (the first of several also checks decode(encode(x)) == x and
is not timed, as in tokenizer_rflow), by wall time and by CPU time. Per-line passes use the
thread's CPU time (time.thread_time, as tokenizer_rflow does); SentencePiece's batch call runs its
loop on a pool thread even with num_threads=1, so batch passes use the process's CPU time
(time.process_time: this process runs nothing else meanwhile). Prints one JSON object per line, in
tokenizer_rflow's shape plus "tokenizer" and "cpu_clock"; the train line adds "version" and the
vocabulary's makeup.

Settings as close to rflow's byte-level unigram as SentencePiece allows (differences that remain
are listed in docs/text-results.md): byte_fallback (all 256 bytes are pieces), character_coverage
1.0, identity normalization, no dummy prefix, no whitespace collapsing, split_by_whitespace
(pieces never span two words; leading-space words and whitespace runs), no script or digit
splitting, pieces of at most 16 characters, seed size 8 x vocab, 2 EM sub-iterations per round,
shrinking factor 0.75 (rflow prunes 25 % a round), one training thread, no BOS/EOS.

Needs only the sentencepiece wheel (pip install sentencepiece); never a build or test dependency.
Usage: tokenizer_sentencepiece.py [--vocab 4096] [--train-mb 2] [--alpha 0.1] [--repeats 3] FILE...
"""
import argparse
import gc
import io
import json
import sys
import time

import sentencepiece as spm


def read_lines(files):
    """Lines of all files, each with its b'\\n', exactly as tokenizer_rflow's std::getline loop."""
    lines = []
    for f in files:
        with open(f, "rb") as fh:
            parts = fh.read().split(b"\n")
        if parts[-1] == b"":
            parts.pop()  # a final '\n' ends the last line; it does not start another
        lines.extend(p + b"\n" for p in parts)
    return lines


def timed(fn, repeats, clock):
    """(best wall s, best CPU s, last result) over `repeats` passes."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for r in range(repeats):
        gc.collect()
        gc.disable()
        t0, c0 = time.perf_counter(), clock()
        out = fn(r)
        dt, dc = time.perf_counter() - t0, clock() - c0
        gc.enable()
        best, best_cpu = min(best, dt), min(best_cpu, dc)
    return best, best_cpu, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--train-mb", type=float, default=2.0)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()

    lines = read_lines(a.files)
    total = sum(len(l) for l in lines)
    # Training set: every k-th line, as tokenizer_rflow picks it (integer division, k >= 1).
    want = int(a.train_mb * 1e6)
    stride = max(1, total // max(want, 1))
    train = lines[::stride]
    train_bytes = sum(len(l) for l in train)
    train_text = [l.decode("utf-8", "replace") for l in train]

    model = io.BytesIO()
    t0 = time.perf_counter()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(train_text), model_writer=model,
        model_type="unigram", vocab_size=a.vocab,
        byte_fallback=True, character_coverage=1.0,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=False, split_by_whitespace=True, allow_whitespace_only_pieces=True,
        split_by_unicode_script=False, split_by_number=False, split_digits=False,
        max_sentencepiece_length=16, seed_sentencepiece_size=8 * a.vocab,
        num_sub_iterations=2, shrinking_factor=0.75, input_sentence_size=0,
        max_sentence_length=1 << 20, hard_vocab_limit=False, num_threads=1,
        unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, minloglevel=2)
    train_s = time.perf_counter() - t0
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    n = sp.get_piece_size()
    n_byte = sum(sp.is_byte(i) for i in range(n))
    n_ctrl = sum(sp.is_unknown(i) or sp.is_control(i) for i in range(n))
    n_multi = sum(1 for i in range(n) if not sp.is_byte(i) and not sp.is_unknown(i)
                  and not sp.is_control(i)
                  and len(sp.id_to_piece(i).replace("\u2581", " ").encode()) > 1)  # in text bytes
    print(json.dumps({"tokenizer": "sentencepiece", "stage": "train", "train_bytes": train_bytes,
                      "vocab": n, "byte_pieces": n_byte, "special_pieces": n_ctrl,
                      "multi_byte_pieces": n_multi, "seconds": round(train_s, 3),
                      "version": spm.__version__}), flush=True)

    # SentencePiece takes bytes as UTF-8 text: no str conversion inside the timed loops.
    spm.set_random_generator_seed(1234)
    modes = [
        ("deterministic", False, False), ("deterministic_batch", False, True),
        ("sample_exact", True, False), ("sample_exact_batch", True, True),
    ]
    for name, sampling, batch in modes:
        kw = dict(enable_sampling=True, alpha=a.alpha, nbest_size=-1) if sampling else {}
        if batch:
            clock = time.process_time
            fn = lambda r: sp.encode(lines, num_threads=1, **kw)  # noqa: E731
        else:
            clock = time.thread_time
            enc = sp.encode
            fn = lambda r: [enc(l, **kw) for l in lines]  # noqa: E731
        round_trip = True
        if a.repeats > 1:  # untimed first pass, which checks decode
            out = fn(0)
            round_trip = all(sp.decode(ids).encode() == l for ids, l in zip(out, lines))
        best, best_cpu, out = timed(fn, max(1, a.repeats - 1), clock)
        if a.repeats == 1:
            round_trip = all(sp.decode(ids).encode() == l for ids, l in zip(out, lines))
        tokens = sum(len(ids) for ids in out)
        print(json.dumps({
            "tokenizer": "sentencepiece", "stage": name, "alpha": a.alpha if sampling else -1,
            "bytes": total, "tokens": tokens, "bytes_per_token": round(total / tokens, 3),
            "seconds": round(best, 3), "mb_per_s": round(total / 1e6 / best, 3),
            "cpu_seconds": round(best_cpu, 3), "cpu_mb_per_s": round(total / 1e6 / best_cpu, 3),
            "cpu_clock": "process" if batch else "thread", "round_trip": round_trip}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        print(f"tokenizer_sentencepiece.py: {e}", file=sys.stderr)
        sys.exit(1)
